; ModuleID = 'xen-i386-domu'
source_filename = "<string>"
target triple = "i686-pc-linux-gnu"

@pv_irq_ops = dso_local local_unnamed_addr global [7 x ptr] [ptr @xen_init_IRQ, ptr @xen_save_fl, ptr @xen_restore_fl, ptr @xen_irq_disable, ptr @xen_irq_enable, ptr @xen_safe_halt, ptr @xen_halt], align 4
@xen_vcpu_info = dso_local local_unnamed_addr addrspace(257) global [64 x i8] zeroinitializer, section ".data..percpu", align 4

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define void @xen_init_IRQ() #0 {
entry:
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define range(i32 0, 513) i32 @xen_save_fl() #1 {
entry:
  %.2 = tail call i32 asm sideeffect "", "={ecx}"() #2
  %.5 = load i8, ptr addrspace(257) getelementptr inbounds nuw (i8, ptr addrspace(257) @xen_vcpu_info, i64 1), align 1
  %.6 = zext i8 %.5 to i32
  %.7 = add nuw nsw i32 %.6, 1023
  %.8 = and i32 %.7, 512
  tail call void asm sideeffect "", "{ecx}"(i32 %.2) #2
  ret i32 %.8
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_restore_fl(i32 inreg %flags) #1 {
entry:
  %.3 = tail call i32 asm sideeffect "", "={ecx}"() #2
  %.7 = and i32 %flags, 512
  %.8 = icmp eq i32 %.7, 0
  %.18 = zext i1 %.8 to i8
  store i8 %.18, ptr addrspace(257) getelementptr inbounds nuw (i8, ptr addrspace(257) @xen_vcpu_info, i64 1), align 1
  tail call void asm sideeffect "", "~{memory}"() #2
  %.27 = load i8, ptr addrspace(257) @xen_vcpu_info, align 4
  %.28 = icmp eq i8 %.27, 0
  %or.cond.not = select i1 %.8, i1 true, i1 %.28
  br i1 %or.cond.not, label %if.end, label %if.then

if.then:                                          ; preds = %entry
  %.3.i = tail call { i32, i32, i32, i32, i32, i32 } asm sideeffect "call hypercall_page+544", "={eax},={ebx},={ecx},={edx},={esi},={edi},1,2,~{memory},~{dirflag},~{fpsr},~{flags}"(i32 0, i32 0) #2
  br label %if.end

if.end:                                           ; preds = %entry, %if.then
  tail call void asm sideeffect "", "{ecx}"(i32 %.3) #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_irq_disable() #1 {
entry:
  %.2 = tail call i32 asm sideeffect "", "={ecx}"() #2
  store i8 1, ptr addrspace(257) getelementptr inbounds nuw (i8, ptr addrspace(257) @xen_vcpu_info, i64 1), align 1
  tail call void asm sideeffect "", "{ecx}"(i32 %.2) #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_irq_enable() #1 {
entry:
  %.2 = tail call i32 asm sideeffect "", "={ecx}"() #2
  store i8 0, ptr addrspace(257) getelementptr inbounds nuw (i8, ptr addrspace(257) @xen_vcpu_info, i64 1), align 1
  tail call void asm sideeffect "", "~{memory}"() #2
  %.9 = load i8, ptr addrspace(257) @xen_vcpu_info, align 4
  %.10.not = icmp eq i8 %.9, 0
  br i1 %.10.not, label %if.end, label %if.then

if.then:                                          ; preds = %entry
  %.3.i = tail call { i32, i32, i32, i32, i32, i32 } asm sideeffect "call hypercall_page+544", "={eax},={ebx},={ecx},={edx},={esi},={edi},1,2,~{memory},~{dirflag},~{fpsr},~{flags}"(i32 0, i32 0) #2
  br label %if.end

if.end:                                           ; preds = %if.then, %entry
  tail call void asm sideeffect "", "{ecx}"(i32 %.2) #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_safe_halt() #1 {
entry:
  %.3 = tail call { i32, i32, i32, i32, i32, i32 } asm sideeffect "call hypercall_page+928", "={eax},={ebx},={ecx},={edx},={esi},={edi},1,2,~{memory},~{dirflag},~{fpsr},~{flags}"(i32 1, i32 0) #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_halt() #1 {
entry:
  %.3 = tail call { i32, i32, i32, i32, i32, i32 } asm sideeffect "call hypercall_page+928", "={eax},={ebx},={ecx},={edx},={esi},={edi},1,2,~{memory},~{dirflag},~{fpsr},~{flags}"(i32 1, i32 0) #2
  ret void
}

attributes #0 = { mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none) }
attributes #1 = { noimplicitfloat noredzone nounwind }
attributes #2 = { nounwind }

!llvm.module.flags = !{!0}

!0 = !{i32 1, !"NumRegisterParameters", i32 3}

@__pvpatch = private constant [7 x { ptr, ptr, i32, i8, i8, i16, [16 x i8] }] [{ ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_init_IRQ, ptr @pv_irq_ops, i32 0, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_save_fl, ptr @pv_irq_ops, i32 1, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_restore_fl, ptr @pv_irq_ops, i32 2, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_irq_disable, ptr @pv_irq_ops, i32 3, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_irq_enable, ptr @pv_irq_ops, i32 4, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_safe_halt, ptr @pv_irq_ops, i32 5, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_halt, ptr @pv_irq_ops, i32 6, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }], section ".pvpatch", align 4
@llvm.used = appending global [1 x ptr] [ptr @__pvpatch], section "llvm.metadata"
