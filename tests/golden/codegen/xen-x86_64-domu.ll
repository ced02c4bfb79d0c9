; ModuleID = 'xen-x86_64-domu'
source_filename = "<string>"
target triple = "x86_64-pc-linux-gnu"

@pv_irq_ops = dso_local local_unnamed_addr global [7 x ptr] [ptr @xen_init_IRQ, ptr @xen_save_fl, ptr @xen_restore_fl, ptr @xen_irq_disable, ptr @xen_irq_enable, ptr @xen_safe_halt, ptr @xen_halt], align 8
@xen_vcpu_info = dso_local local_unnamed_addr addrspace(256) global [64 x i8] zeroinitializer, section ".data..percpu", align 8

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define void @xen_init_IRQ() #0 {
entry:
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define range(i64 0, 513) i64 @xen_save_fl() #1 {
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
  %.13 = load i8, ptr addrspace(256) getelementptr inbounds nuw (i8, ptr addrspace(256) @xen_vcpu_info, i64 1), align 1
  %.14 = zext i8 %.13 to i64
  %.15 = add nuw nsw i64 %.14, 1023
  %.16 = and i64 %.15, 512
  tail call void asm sideeffect "", "{rcx},{rdx},{rsi},{rdi},{r8},{r9},{r10},{r11}"(i64 %.3, i64 %.4, i64 %.5, i64 %.6, i64 %.7, i64 %.8, i64 %.9, i64 %.10) #2
  ret i64 %.16
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_restore_fl(i64 %flags) #1 {
entry:
  %.3 = tail call { i64, i64, i64, i64, i64, i64, i64 } asm sideeffect "", "={rcx},={rdx},={rsi},={r8},={r9},={r10},={r11}"() #2
  %.14 = and i64 %flags, 512
  %.15 = icmp eq i64 %.14, 0
  %.25 = zext i1 %.15 to i8
  store i8 %.25, ptr addrspace(256) getelementptr inbounds nuw (i8, ptr addrspace(256) @xen_vcpu_info, i64 1), align 1
  tail call void asm sideeffect "", "~{memory}"() #2
  %.34 = load i8, ptr addrspace(256) @xen_vcpu_info, align 8
  %.35 = icmp eq i8 %.34, 0
  %or.cond.not = select i1 %.15, i1 true, i1 %.35
  br i1 %or.cond.not, label %if.end, label %if.then

if.then:                                          ; preds = %entry
  %.4.i = tail call { i64, i64, i64, i64, i64, i64 } asm sideeffect "call hypercall_page+544", "={rax},={rdi},={rsi},={rdx},={r10},={r8},1,2,~{memory},~{dirflag},~{fpsr},~{flags}"(i64 0, i64 0) #2
  br label %if.end

if.end:                                           ; preds = %entry, %if.then
  %.10 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 6
  %.9 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 5
  %.8 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 4
  %.7 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 3
  %.6 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 2
  %.5 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 1
  %.4 = extractvalue { i64, i64, i64, i64, i64, i64, i64 } %.3, 0
  tail call void asm sideeffect "", "{rcx},{rdx},{rsi},{rdi},{r8},{r9},{r10},{r11}"(i64 %.4, i64 %.5, i64 %.6, i64 %flags, i64 %.7, i64 %.8, i64 %.9, i64 %.10) #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_irq_disable() #1 {
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
  store i8 1, ptr addrspace(256) getelementptr inbounds nuw (i8, ptr addrspace(256) @xen_vcpu_info, i64 1), align 1
  tail call void asm sideeffect "", "{rcx},{rdx},{rsi},{rdi},{r8},{r9},{r10},{r11}"(i64 %.3, i64 %.4, i64 %.5, i64 %.6, i64 %.7, i64 %.8, i64 %.9, i64 %.10) #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_irq_enable() #1 {
entry:
  %.2 = tail call { i64, i64, i64, i64, i64, i64, i64, i64 } asm sideeffect "", "={rcx},={rdx},={rsi},={rdi},={r8},={r9},={r10},={r11}"() #2
  store i8 0, ptr addrspace(256) getelementptr inbounds nuw (i8, ptr addrspace(256) @xen_vcpu_info, i64 1), align 1
  tail call void asm sideeffect "", "~{memory}"() #2
  %.17 = load i8, ptr addrspace(256) @xen_vcpu_info, align 8
  %.18.not = icmp eq i8 %.17, 0
  br i1 %.18.not, label %if.end, label %if.then

if.then:                                          ; preds = %entry
  %.4.i = tail call { i64, i64, i64, i64, i64, i64 } asm sideeffect "call hypercall_page+544", "={rax},={rdi},={rsi},={rdx},={r10},={r8},1,2,~{memory},~{dirflag},~{fpsr},~{flags}"(i64 0, i64 0) #2
  br label %if.end

if.end:                                           ; preds = %if.then, %entry
  %.10 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 7
  %.9 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 6
  %.8 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 5
  %.7 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 4
  %.6 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 3
  %.5 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 2
  %.4 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 1
  %.3 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 0
  tail call void asm sideeffect "", "{rcx},{rdx},{rsi},{rdi},{r8},{r9},{r10},{r11}"(i64 %.3, i64 %.4, i64 %.5, i64 %.6, i64 %.7, i64 %.8, i64 %.9, i64 %.10) #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_safe_halt() #1 {
entry:
  %.4 = tail call { i64, i64, i64, i64, i64, i64 } asm sideeffect "call hypercall_page+928", "={rax},={rdi},={rsi},={rdx},={r10},={r8},1,2,~{memory},~{dirflag},~{fpsr},~{flags}"(i64 1, i64 0) #2
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_halt() #1 {
entry:
  %.4 = tail call { i64, i64, i64, i64, i64, i64 } asm sideeffect "call hypercall_page+928", "={rax},={rdi},={rsi},={rdx},={r10},={r8},1,2,~{memory},~{dirflag},~{fpsr},~{flags}"(i64 1, i64 0) #2
  ret void
}

attributes #0 = { mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none) }
attributes #1 = { noimplicitfloat noredzone nounwind }
attributes #2 = { nounwind }

@__pvpatch = private constant [7 x { ptr, ptr, i32, i8, i8, i16, [16 x i8] }] [{ ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_init_IRQ, ptr @pv_irq_ops, i32 0, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_save_fl, ptr @pv_irq_ops, i32 1, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_restore_fl, ptr @pv_irq_ops, i32 2, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_irq_disable, ptr @pv_irq_ops, i32 3, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_irq_enable, ptr @pv_irq_ops, i32 4, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_safe_halt, ptr @pv_irq_ops, i32 5, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_halt, ptr @pv_irq_ops, i32 6, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }], section ".pvpatch", align 8
@llvm.used = appending global [1 x ptr] [ptr @__pvpatch], section "llvm.metadata"
