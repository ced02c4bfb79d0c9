; ModuleID = 'native_cpu-x86_64-native'
source_filename = "<string>"
target triple = "x86_64-pc-linux-gnu"

@demo_cpu_ops = dso_local local_unnamed_addr global [7 x ptr] [ptr @native_cpu_cpuid, ptr @native_cpu_wbinvd, ptr @native_cpu_io_delay, ptr @native_cpu_read_tsc, ptr @native_cpu_read_msr, ptr @native_cpu_get_debugreg, ptr @native_cpu_set_debugreg], align 8

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_cpu_cpuid(ptr captures(none) %eax, ptr writeonly captures(none) initializes((0, 4)) %ebx, ptr captures(none) %ecx, ptr writeonly captures(none) initializes((0, 4)) %edx) #0 {
entry:
  %.22 = load i32, ptr %eax, align 4
  %.23 = load i32, ptr %ecx, align 4
  %.24 = tail call { i32, i32, i32, i32 } asm sideeffect "cpuid", "={eax},={ebx},={ecx},={edx},0,2,~{memory}"(i32 %.22, i32 %.23) #2
  %.25 = extractvalue { i32, i32, i32, i32 } %.24, 0
  store i32 %.25, ptr %eax, align 4
  %.27 = extractvalue { i32, i32, i32, i32 } %.24, 1
  store i32 %.27, ptr %ebx, align 4
  %.29 = extractvalue { i32, i32, i32, i32 } %.24, 2
  store i32 %.29, ptr %ecx, align 4
  %.31 = extractvalue { i32, i32, i32, i32 } %.24, 3
  store i32 %.31, ptr %edx, align 4
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
  %.2 = tail call { i64, i64 } asm sideeffect "rdtsc", "={rax},={rdx}"() #2
  %.3 = extractvalue { i64, i64 } %.2, 0
  %.4 = extractvalue { i64, i64 } %.2, 1
  %.5 = shl i64 %.4, 32
  %.6 = or i64 %.5, %.3
  ret i64 %.6
}

; Function Attrs: noimplicitfloat noredzone nounwind
define i64 @native_cpu_read_msr(i32 %msr) #0 {
entry:
  %.5 = tail call { i64, i64 } asm sideeffect "rdmsr", "={rax},={rdx},{ecx},~{memory}"(i32 %msr) #2
  %.6 = extractvalue { i64, i64 } %.5, 0
  %.7 = extractvalue { i64, i64 } %.5, 1
  %.8 = shl i64 %.7, 32
  %.9 = or i64 %.8, %.6
  ret i64 %.9
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define noundef i64 @native_cpu_get_debugreg(i32 %reg) #1 {
entry:
  ret i64 0
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define void @native_cpu_set_debugreg(i32 %reg, i64 %value) #1 {
entry:
  ret void
}

attributes #0 = { noimplicitfloat noredzone nounwind }
attributes #1 = { mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none) }
attributes #2 = { nounwind }

@__pvpatch = private constant [7 x { ptr, ptr, i32, i8, i8, i16, [16 x i8] }] [{ ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_cpuid, ptr @demo_cpu_ops, i32 0, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_wbinvd, ptr @demo_cpu_ops, i32 1, i8 2, i8 0, i16 0, [16 x i8] [i8 15, i8 9, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_io_delay, ptr @demo_cpu_ops, i32 2, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_read_tsc, ptr @demo_cpu_ops, i32 3, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_read_msr, ptr @demo_cpu_ops, i32 4, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_get_debugreg, ptr @demo_cpu_ops, i32 5, i8 2, i8 0, i16 1, [16 x i8] [i8 49, i8 192, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_cpu_set_debugreg, ptr @demo_cpu_ops, i32 6, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }], section ".pvpatch", align 8
@llvm.used = appending global [1 x ptr] [ptr @__pvpatch], section "llvm.metadata"
