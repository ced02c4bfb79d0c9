; ModuleID = 'xen_cpu-x86_64-dom0'
source_filename = "<string>"
target triple = "x86_64-pc-linux-gnu"

@demo_cpu_ops = dso_local local_unnamed_addr global [7 x ptr] [ptr @xen_cpu_cpuid, ptr @xen_cpu_wbinvd, ptr @xen_cpu_io_delay, ptr @xen_cpu_read_tsc, ptr @xen_cpu_read_msr, ptr @xen_cpu_get_debugreg, ptr @xen_cpu_set_debugreg], align 8

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_cpu_cpuid(ptr captures(none) %eax, ptr writeonly captures(none) initializes((0, 4)) %ebx, ptr captures(none) %ecx, ptr writeonly captures(none) initializes((0, 4)) %edx) #0 {
entry:
  %.12 = load i32, ptr %eax, align 4
  %.27 = load i32, ptr %ecx, align 4
  %.28 = tail call { i32, i32, i32, i32 } asm sideeffect "cpuid", "={eax},={ebx},={ecx},={edx},0,2,~{memory}"(i32 %.12, i32 %.27) #2
  %.29 = extractvalue { i32, i32, i32, i32 } %.28, 0
  store i32 %.29, ptr %eax, align 4
  %.31 = extractvalue { i32, i32, i32, i32 } %.28, 1
  store i32 %.31, ptr %ebx, align 4
  %.33 = extractvalue { i32, i32, i32, i32 } %.28, 2
  store i32 %.33, ptr %ecx, align 4
  %.35 = extractvalue { i32, i32, i32, i32 } %.28, 3
  store i32 %.35, ptr %edx, align 4
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
  %.2 = tail call { i64, i64 } asm sideeffect "rdtsc", "={rax},={rdx}"() #2
  %.3 = extractvalue { i64, i64 } %.2, 0
  %.4 = extractvalue { i64, i64 } %.2, 1
  %.5 = shl i64 %.4, 32
  %.6 = or i64 %.5, %.3
  ret i64 %.6
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define noundef i64 @xen_cpu_read_msr(i32 %msr) #1 {
entry:
  ret i64 0
}

; Function Attrs: noimplicitfloat noredzone nounwind
define i64 @xen_cpu_get_debugreg(i32 %reg) #0 {
entry:
  %.5 = sext i32 %reg to i64
  %.6 = tail call { i64, i64, i64, i64, i64, i64 } asm sideeffect "call hypercall_page+288", "={rax},={rdi},={rsi},={rdx},={r10},={r8},1,~{memory},~{dirflag},~{fpsr},~{flags}"(i64 %.5) #2
  %.7 = extractvalue { i64, i64, i64, i64, i64, i64 } %.6, 0
  ret i64 %.7
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_cpu_set_debugreg(i32 %reg, i64 %value) #0 {
entry:
  %.8 = sext i32 %reg to i64
  %.9 = tail call { i64, i64, i64, i64, i64, i64 } asm sideeffect "call hypercall_page+256", "={rax},={rdi},={rsi},={rdx},={r10},={r8},1,2,~{memory},~{dirflag},~{fpsr},~{flags}"(i64 %.8, i64 %value) #2
  ret void
}

attributes #0 = { noimplicitfloat noredzone nounwind }
attributes #1 = { mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none) }
attributes #2 = { nounwind }

@__pvpatch = private constant [7 x { ptr, ptr, i32, i8, i8, i16, [16 x i8] }] [{ ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_cpuid, ptr @demo_cpu_ops, i32 0, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_wbinvd, ptr @demo_cpu_ops, i32 1, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_io_delay, ptr @demo_cpu_ops, i32 2, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_read_tsc, ptr @demo_cpu_ops, i32 3, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_read_msr, ptr @demo_cpu_ops, i32 4, i8 2, i8 0, i16 1, [16 x i8] [i8 49, i8 192, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_get_debugreg, ptr @demo_cpu_ops, i32 5, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_cpu_set_debugreg, ptr @demo_cpu_ops, i32 6, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }], section ".pvpatch", align 8
@llvm.used = appending global [1 x ptr] [ptr @__pvpatch], section "llvm.metadata"
