; ModuleID = 'xen_cpu-i386-domu'
source_filename = "<string>"
target triple = "i686-pc-linux-gnu"

@demo_cpu_ops = dso_local local_unnamed_addr global [7 x ptr] [ptr @xen_cpu_cpuid, ptr @xen_cpu_wbinvd, ptr @xen_cpu_io_delay, ptr @xen_cpu_read_tsc, ptr @xen_cpu_read_msr, ptr @xen_cpu_get_debugreg, ptr @xen_cpu_set_debugreg], align 4

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_cpu_cpuid(ptr inreg %eax, ptr inreg %ebx, ptr inreg %ecx, ptr %edx) #0 {
entry:
  %.12 = load i32, ptr %eax, align 4
  %0 = ptrtoint ptr %eax to i64
  %1 = ptrtoint ptr %ebx to i64
  %2 = ptrtoint ptr %ecx to i64
  %3 = ptrtoint ptr %edx to i64
  %4 = and i64 %0, 4294967295
  %.22 = inttoptr i64 %4 to ptr
  %5 = and i64 %1, 4294967295
  %.23 = inttoptr i64 %5 to ptr
  %6 = and i64 %2, 4294967295
  %.24 = inttoptr i64 %6 to ptr
  %7 = and i64 %3, 4294967295
  %.25 = inttoptr i64 %7 to ptr
  %.26 = load i32, ptr %.22, align 4
  %.27 = load i32, ptr %.24, align 4
  %.28 = tail call { i32, i32, i32, i32 } asm sideeffect "cpuid", "={eax},={ebx},={ecx},={edx},0,2,~{memory}"(i32 %.26, i32 %.27) #2
  %.29 = extractvalue { i32, i32, i32, i32 } %.28, 0
  store i32 %.29, ptr %.22, align 4
  %.31 = extractvalue { i32, i32, i32, i32 } %.28, 1
  store i32 %.31, ptr %.23, align 4
  %.33 = extractvalue { i32, i32, i32, i32 } %.28, 2
  store i32 %.33, ptr %.24, align 4
  %.35 = extractvalue { i32, i32, i32, i32 } %.28, 3
  store i32 %.35, ptr %.25, align 4
  %.38 = icmp eq i32 %.12, 1
  br i1 %.38, label %if.then, label %if.end

if.then:                                          ; preds = %entry
  %.41 = load i32, ptr %ecx, align 4
  %.42 = and i32 %.41, -2097193
  store i32 %.42, ptr %ecx, align 4
  br label %if.end

if.end:                                           ; preds = %if.then, %entry
  ret void
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define void @xen_cpu_wbinvd() #1 {
entry:
  ret void
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define void @xen_cpu_io_delay() #1 {
entry:
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define i64 @xen_cpu_read_tsc() #0 {
entry:
  %.2 = tail call { i32, i32 } asm sideeffect "rdtsc", "={eax},={edx}"() #2
  %.3 = extractvalue { i32, i32 } %.2, 0
  %.4 = extractvalue { i32, i32 } %.2, 1
  %.5 = zext i32 %.3 to i64
  %.6 = zext i32 %.4 to i64
  %.7 = shl nuw i64 %.6, 32
  %.8 = or disjoint i64 %.7, %.5
  ret i64 %.8
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define noundef i64 @xen_cpu_read_msr(i32 inreg %msr) #1 {
entry:
  ret i64 0
}

; Function Attrs: noimplicitfloat noredzone nounwind
define i32 @xen_cpu_get_debugreg(i32 inreg %reg) #0 {
entry:
  %.5 = tail call { i32, i32, i32, i32, i32, i32 } asm sideeffect "call hypercall_page+288", "={eax},={ebx},={ecx},={edx},={esi},={edi},1,~{memory},~{dirflag},~{fpsr},~{flags}"(i32 %reg) #2
  %.6 = extractvalue { i32, i32, i32, i32, i32, i32 } %.5, 0
  ret i32 %.6
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_cpu_set_debugreg(i32 inreg %reg, i32 inreg %value) #0 {
entry:
  %.8 = tail call { i32, i32, i32, i32, i32, i32 } asm sideeffect "call hypercall_page+256", "={eax},={ebx},={ecx},={edx},={esi},={edi},1,2,~{memory},~{dirflag},~{fpsr},~{flags}"(i32 %reg, i32 %value) #2
  ret void
}

attributes #0 = { noimplicitfloat noredzone nounwind }
attributes #1 = { mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none) }
attributes #2 = { nounwind }

!llvm.module.flags = !{!0}

!0 = !{i32 1, !"NumRegisterParameters", i32 3}

@__pvpatch = private constant [7 x { ptr, ptr, i32, i8, i8, i16, [16 x i8] }] [{ ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_cpuid, ptr @demo_cpu_ops, i32 0, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_wbinvd, ptr @demo_cpu_ops, i32 1, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_io_delay, ptr @demo_cpu_ops, i32 2, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_read_tsc, ptr @demo_cpu_ops, i32 3, i8 2, i8 0, i16 5, [16 x i8] [i8 15, i8 49, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_read_msr, ptr @demo_cpu_ops, i32 4, i8 4, i8 0, i16 5, [16 x i8] [i8 49, i8 192, i8 49, i8 210, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_get_debugreg, ptr @demo_cpu_ops, i32 5, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_set_debugreg, ptr @demo_cpu_ops, i32 6, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }], section ".pvpatch", align 4
@llvm.used = appending global [1 x ptr] [ptr @__pvpatch], section "llvm.metadata"
