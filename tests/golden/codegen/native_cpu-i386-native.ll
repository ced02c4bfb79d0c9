; ModuleID = 'native_cpu-i386-native'
source_filename = "<string>"
target triple = "i686-pc-linux-gnu"

@demo_cpu_ops = dso_local local_unnamed_addr global [7 x ptr] [ptr @native_cpu_cpuid, ptr @native_cpu_wbinvd, ptr @native_cpu_io_delay, ptr @native_cpu_read_tsc, ptr @native_cpu_read_msr, ptr @native_cpu_get_debugreg, ptr @native_cpu_set_debugreg], align 4

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_cpu_cpuid(ptr inreg %eax, ptr inreg %ebx, ptr inreg %ecx, ptr %edx) #0 {
entry:
  %0 = ptrtoint ptr %eax to i64
  %1 = ptrtoint ptr %ebx to i64
  %2 = ptrtoint ptr %ecx to i64
  %3 = ptrtoint ptr %edx to i64
  %4 = and i64 %0, 4294967295
  %.18 = inttoptr i64 %4 to ptr
  %5 = and i64 %1, 4294967295
  %.19 = inttoptr i64 %5 to ptr
  %6 = and i64 %2, 4294967295
  %.20 = inttoptr i64 %6 to ptr
  %7 = and i64 %3, 4294967295
  %.21 = inttoptr i64 %7 to ptr
  %.22 = load i32, ptr %.18, align 4
  %.23 = load i32, ptr %.20, align 4
  %.24 = tail call { i32, i32, i32, i32 } asm sideeffect "cpuid", "={eax},={ebx},={ecx},={edx},0,2,~{memory}"(i32 %.22, i32 %.23) #2
  %.25 = extractvalue { i32, i32, i32, i32 } %.24, 0
  store i32 %.25, ptr %.18, align 4
  %.27 = extractvalue { i32, i32, i32, i32 } %.24, 1
  store i32 %.27, ptr %.19, align 4
  %.29 = extractvalue { i32, i32, i32, i32 } %.24, 2
  store i32 %.29, ptr %.20, align 4
  %.31 = extractvalue { i32, i32, i32, i32 } %.24, 3
  store i32 %.31, ptr %.21, align 4
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_cpu_wbinvd() #0 {
entry:
  tail call void asm sideeffect "wbinvd", "~{memory},~{dirflag},~{fpsr},~{flags}"() #2
  ret void
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define void @native_cpu_io_delay() #1 {
entry:
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define i64 @native_cpu_read_tsc() #0 {
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

; Function Attrs: noimplicitfloat noredzone nounwind
define i64 @native_cpu_read_msr(i32 inreg %msr) #0 {
entry:
  %.5 = tail call { i32, i32 } asm sideeffect "rdmsr", "={eax},={edx},{ecx},~{memory}"(i32 %msr) #2
  %.6 = extractvalue { i32, i32 } %.5, 0
  %.7 = extractvalue { i32, i32 } %.5, 1
  %.8 = zext i32 %.6 to i64
  %.9 = zext i32 %.7 to i64
  %.10 = shl nuw i64 %.9, 32
  %.11 = or disjoint i64 %.10, %.8
  ret i64 %.11
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define noundef i32 @native_cpu_get_debugreg(i32 inreg %reg) #1 {
entry:
  ret i32 0
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define void @native_cpu_set_debugreg(i32 inreg %reg, i32 inreg %value) #1 {
entry:
  ret void
}

attributes #0 = { noimplicitfloat noredzone nounwind }
attributes #1 = { mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none) }
attributes #2 = { nounwind }

!llvm.module.flags = !{!0}

!0 = !{i32 1, !"NumRegisterParameters", i32 3}

@__pvpatch = private constant [7 x { ptr, ptr, i32, i8, i8, i16, [16 x i8] }] [{ ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_cpuid, ptr @demo_cpu_ops, i32 0, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_wbinvd, ptr @demo_cpu_ops, i32 1, i8 2, i8 0, i16 0, [16 x i8] [i8 15, i8 9, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_io_delay, ptr @demo_cpu_ops, i32 2, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_read_tsc, ptr @demo_cpu_ops, i32 3, i8 2, i8 0, i16 5, [16 x i8] [i8 15, i8 49, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_read_msr, ptr @demo_cpu_ops, i32 4, i8 4, i8 0, i16 7, [16 x i8] [i8 137, i8 193, i8 15, i8 50, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_get_debugreg, ptr @demo_cpu_ops, i32 5, i8 2, i8 0, i16 1, [16 x i8] [i8 49, i8 192, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_set_debugreg, ptr @demo_cpu_ops, i32 6, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }], section ".pvpatch", align 4
@llvm.used = appending global [1 x ptr] [ptr @__pvpatch], section "llvm.metadata"
