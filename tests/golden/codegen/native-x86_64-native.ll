; ModuleID = 'native-x86_64-native'
source_filename = "<string>"
target triple = "x86_64-pc-linux-gnu"

@pv_irq_ops = dso_local local_unnamed_addr global [7 x ptr] [ptr @native_init_IRQ, ptr @native_save_fl, ptr @native_restore_fl, ptr @native_irq_disable, ptr @native_irq_enable, ptr @native_safe_halt, ptr @native_halt], align 8

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define void @native_init_IRQ() #0 {
entry:
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define i64 @native_save_fl() #1 {
entry:
  %.2 = tail call { i64, i64, i64, i64, i64, i64, i64, i64 } asm sideeffect "", "={rcx},={rdx},={rsi},={rdi},={r8},={r9},={r10},={r11}"() #2
  %.3 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 0
  %.4 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 1
  %.5 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 2
  %.6 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 3
  %.7 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 4
  %.8 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 5
  %.9 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 6
  %.10 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 7
  %.11 = tail call i64 asm sideeffect "pushfq\0A\09popq $0", "=r,~{memory}"() #2
  tail call void asm sideeffect "", "{rcx},{rdx},{rsi},{rdi},{r8},{r9},{r10},{r11}"(i64 %.3, i64 %.4, i64 %.5, i64 %.6, i64 %.7, i64 %.8, i64 %.9, i64 %.10) #2
  ret i64 %.11
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_restore_fl(i64 %flags) #1 {
entry:
  %.3 = tail call { i64, i64, i64, i64, i64, i64, i64 } asm sideeffect "", "={rcx},={rdx},={rsi},={r8},={r9},={r10},={r11}"() #2
  %.4 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 0
  %.5 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 1
  %.6 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 2
  %.7 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 3
  %.8 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 4
  %.9 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 5
  %.10 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 6
  tail call void asm sideeffect "pushq $0\0A\09popfq", "r,~{memory},~{dirflag},~{fpsr},~{flags}"(i64 %flags) #2
  tail call void asm sideeffect "", "{rcx},{rdx},{rsi},{rdi},{r8},{r9},{r10},{r11}"(i64 %.4, i64 %.5, i64 %.6, i64 %flags, i64 %.7, i64 %.8, i64 %.9, i64 %.10) #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_irq_disable() #1 {
entry:
  %.2 = tail call { i64, i64, i64, i64, i64, i64, i64, i64 } asm sideeffect "", "={rcx},={rdx},={rsi},={rdi},={r8},={r9},={r10},={r11}"() #2
  %.3 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 0
  %.4 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 1
  %.5 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 2
  %.6 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 3
  %.7 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 4
  %.8 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 5
  %.9 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 6
  %.10 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 7
  tail call void asm sideeffect "cli", "~{memory},~{dirflag},~{fpsr},~{flags}"() #2
  tail call void asm sideeffect "", "{rcx},{rdx},{rsi},{rdi},{r8},{r9},{r10},{r11}"(i64 %.3, i64 %.4, i64 %.5, i64 %.6, i64 %.7, i64 %.8, i64 %.9, i64 %.10) #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_irq_enable() #1 {
entry:
  %.2 = tail call { i64, i64, i64, i64, i64, i64, i64, i64 } asm sideeffect "", "={rcx},={rdx},={rsi},={rdi},={r8},={r9},={r10},={r11}"() #2
  %.3 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 0
  %.4 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 1
  %.5 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 2
  %.6 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 3
  %.7 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 4
  %.8 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 5
  %.9 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 6
  %.10 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 7
  tail call void asm sideeffect "sti", "~{memory},~{dirflag},~{fpsr},~{flags}"() #2
  tail call void asm sideeffect "", "{rcx},{rdx},{rsi},{rdi},{r8},{r9},{r10},{r11}"(i64 %.3, i64 %.4, i64 %.5, i64 %.6, i64 %.7, i64 %.8, i64 %.9, i64 %.10) #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_safe_halt() #1 {
entry:
  tail call void asm sideeffect "sti", "~{memory},~{dirflag},~{fpsr},~{flags}"() #2
  tail call void asm sideeffect "hlt", "~{memory},~{dirflag},~{fpsr},~{flags}"() #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_halt() #1 {
entry:
  tail call void asm sideeffect "hlt", "~{memory},~{dirflag},~{fpsr},~{flags}"() #2
  ret void
}

attributes #0 = { mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none) }
attributes #1 = { noimplicitfloat noredzone nounwind }
attributes #2 = { nounwind }

@__pvpatch = private constant [7 x { ptr, ptr, i32, i8, i8, i16, [16 x i8] }] [{ ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_init_IRQ, ptr @pv_irq_ops, i32 0, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_save_fl, ptr @pv_irq_ops, i32 1, i8 2, i8 0, i16 1, [16 x i8] [i8 156, i8 88, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_restore_fl, ptr @pv_irq_ops, i32 2, i8 2, i8 0, i16 0, [16 x i8] [i8 87, i8 157, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_irq_disable, ptr @pv_irq_ops, i32 3, i8 1, i8 0, i16 0, [16 x i8] [i8 250, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_irq_enable, ptr @pv_irq_ops, i32 4, i8 1, i8 0, i16 0, [16 x i8] [i8 251, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_safe_halt, ptr @pv_irq_ops, i32 5, i8 2, i8 0, i16 0, [16 x i8] [i8 251, i8 244, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_halt, ptr @pv_irq_ops, i32 6, i8 1, i8 0, i16 0, [16 x i8] [i8 244, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }], section ".pvpatch", align 8
@llvm.used = appending global [1 x ptr] [ptr @__pvpatch], section "llvm.metadata"
