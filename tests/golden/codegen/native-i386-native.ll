; ModuleID = 'native-i386-native'
source_filename = "<string>"
target triple = "i686-pc-linux-gnu"

@pv_irq_ops = dso_local local_unnamed_addr global [7 x ptr] [ptr @native_init_IRQ, ptr @native_save_fl, ptr @native_restore_fl, ptr @native_irq_disable, ptr @native_irq_enable, ptr @native_safe_halt, ptr @native_halt], align 4

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define void @native_init_IRQ() #0 {
entry:
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define i32 @native_save_fl() #1 {
entry:
  %.2 = tail call i32 asm sideeffect "", "={ecx}"() #2
  %.3 = tail call i32 asm sideeffect "pushfl\0A\09popl $0", "=r,~{memory}"() #2
  tail call void asm sideeffect "", "{ecx}"(i32 %.2) #2
  ret i32 %.3
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_restore_fl(i32 inreg %flags) #1 {
entry:
  %.3 = tail call i32 asm sideeffect "", "={ecx}"() #2
  tail call void asm sideeffect "pushl $0\0A\09popfl", "r,~{memory},~{dirflag},~{fpsr},~{flags}"(i32 %flags) #2
  tail call void asm sideeffect "", "{ecx}"(i32 %.3) #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_irq_disable() #1 {
entry:
  %.2 = tail call i32 asm sideeffect "", "={ecx}"() #2
  tail call void asm sideeffect "cli", "~{memory},~{dirflag},~{fpsr},~{flags}"() #2
  tail call void asm sideeffect "", "{ecx}"(i32 %.2) #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_irq_enable() #1 {
entry:
  %.2 = tail call i32 asm sideeffect "", "={ecx}"() #2
  tail call void asm sideeffect "sti", "~{memory},~{dirflag},~{fpsr},~{flags}"() #2
  tail call void asm sideeffect "", "{ecx}"(i32 %.2) #2
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

!llvm.module.flags = !{!0}

!0 = !{i32 1, !"NumRegisterParameters", i32 3}

@__pvpatch = private constant [7 x { ptr, ptr, i32, i8, i8, i16, [16 x i8] }] [{ ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_init_IRQ, ptr @pv_irq_ops, i32 0, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_save_fl, ptr @pv_irq_ops, i32 1, i8 2, i8 0, i16 1, [16 x i8] [i8 156, i8 88, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_restore_fl, ptr @pv_irq_ops, i32 2, i8 2, i8 0, i16 0, [16 x i8] [i8 80, i8 157, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_irq_disable, ptr @pv_irq_ops, i32 3, i8 1, i8 0, i16 0, [16 x i8] [i8 250, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_irq_enable, ptr @pv_irq_ops, i32 4, i8 1, i8 0, i16 0, [16 x i8] [i8 251, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_safe_halt, ptr @pv_irq_ops, i32 5, i8 2, i8 0, i16 0, [16 x i8] [i8 251, i8 244, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_halt, ptr @pv_irq_ops, i32 6, i8 1, i8 0, i16 0, [16 x i8] [i8 244, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }], section ".pvpatch", align 4
@llvm.used = appending global [1 x ptr] [ptr @__pvpatch], section "llvm.metadata"
