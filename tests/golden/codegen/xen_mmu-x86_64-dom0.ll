; ModuleID = 'xen_mmu-x86_64-dom0'
source_filename = "<string>"
target triple = "x86_64-pc-linux-gnu"

@demo_mmu_ops = dso_local local_unnamed_addr global [7 x ptr] [ptr @xen_mmu_read_cr2, ptr @xen_mmu_read_cr3, ptr @xen_mmu_write_cr3, ptr @xen_mmu_flush_tlb_single, ptr @xen_mmu_set_pte, ptr @xen_mmu_pte_val, ptr @xen_mmu_count_present], align 8
@xen_vcpu_info = dso_local local_unnamed_addr addrspace(256) global [64 x i8] zeroinitializer, section ".data..percpu", align 8

; Function Attrs: noimplicitfloat noredzone nounwind
define i64 @xen_mmu_read_cr2() #0 {
entry:
  %.2 = tail call { i64, i64, i64, i64, i64, i64, i64, i64 } asm sideeffect "", "={rcx},={rdx},={rsi},={rdi},={r8},={r9},={r10},={r11}"() #4
  %.3 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 0
  %.4 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 1
  %.5 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 2
  %.6 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 3
  %.7 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 4
  %.8 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 5
  %.9 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 6
  %.10 = extractvalue { i64, i64, i64, i64, i64, i64, i64, i64 } %.2, 7
  %.14 = load i64, ptr addrspace(256) getelementptr inbounds nuw (i8, ptr addrspace(256) @xen_vcpu_info, i64 16), align 8
  tail call void asm sideeffect "", "{rcx},{rdx},{rsi},{rdi},{r8},{r9},{r10},{r11}"(i64 %.3, i64 %.4, i64 %.5, i64 %.6, i64 %.7, i64 %.8, i64 %.9, i64 %.10) #4
  ret i64 %.14
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define noundef i64 @xen_mmu_read_cr3() #1 {
entry:
  ret i64 0
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_mmu_write_cr3(i64 %cr3) #0 {
entry:
  %op = alloca [24 x i8], align 1
  %.fca.8.gep = getelementptr inbounds nuw i8, ptr %op, i64 8
  %0 = getelementptr inbounds nuw i8, ptr %op, i64 4
  call void @llvm.memset.p0.i64(ptr noundef nonnull align 1 dereferenceable(20) %0, i8 0, i64 20, i1 false)
  store i32 5, ptr %op, align 4
  %.11 = lshr i64 %cr3, 12
  store i64 %.11, ptr %.fca.8.gep, align 4
  %.5.i = ptrtoint ptr %op to i64
  %.9.i = call { i64, i64, i64, i64, i64, i64 } asm sideeffect "call hypercall_page+832", "={rax},={rdi},={rsi},={rdx},={r10},={r8},1,2,3,4,~{memory},~{dirflag},~{fpsr},~{flags}"(i64 %.5.i, i64 1, i64 0, i64 32752) #4
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_mmu_flush_tlb_single(i64 %addr) #0 {
entry:
  %op = alloca [24 x i8], align 1
  %.fca.8.gep = getelementptr inbounds nuw i8, ptr %op, i64 8
  %0 = getelementptr inbounds nuw i8, ptr %op, i64 4
  call void @llvm.memset.p0.i64(ptr noundef nonnull align 1 dereferenceable(20) %0, i8 0, i64 20, i1 false)
  store i32 7, ptr %op, align 4
  store i64 %addr, ptr %.fca.8.gep, align 4
  %.5.i = ptrtoint ptr %op to i64
  %.9.i = call { i64, i64, i64, i64, i64, i64 } asm sideeffect "call hypercall_page+832", "={rax},={rdi},={rsi},={rdx},={r10},={r8},1,2,3,4,~{memory},~{dirflag},~{fpsr},~{flags}"(i64 %.5.i, i64 1, i64 0, i64 32752) #4
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_mmu_set_pte(ptr %ptep, i64 %pte) #0 {
entry:
  %u = alloca [16 x i8], align 8
  %.fca.8.gep = getelementptr inbounds nuw i8, ptr %u, i64 8
  %.9 = ptrtoint ptr %ptep to i64
  store i64 %.9, ptr %u, align 8
  store i64 %pte, ptr %.fca.8.gep, align 8
  %.15 = ptrtoint ptr %u to i64
  %.19 = call { i64, i64, i64, i64, i64, i64 } asm sideeffect "call hypercall_page+32", "={rax},={rdi},={rsi},={rdx},={r10},={r8},1,2,3,4,~{memory},~{dirflag},~{fpsr},~{flags}"(i64 %.15, i64 1, i64 0, i64 32752) #4
  ret void
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define i64 @xen_mmu_pte_val(i64 returned %pte) #1 {
entry:
  ret i64 %pte
}

; Function Attrs: nofree noimplicitfloat norecurse noredzone nosync nounwind memory(argmem: read)
define i32 @xen_mmu_count_present(ptr readonly captures(none) %ptes, i32 %n) #2 {
entry:
  %.134.not.i = icmp eq i32 %n, 0
  br i1 %.134.not.i, label %pvdsl.count.exit, label %while.body.i

while.body.i:                                     ; preds = %entry, %while.body.i
  %found.06.i = phi i32 [ %spec.select.i, %while.body.i ], [ 0, %entry ]
  %i.05.i = phi i32 [ %.27.i, %while.body.i ], [ 0, %entry ]
  %.17.i = zext i32 %i.05.i to i64
  %.18.i = getelementptr i64, ptr %ptes, i64 %.17.i
  %.19.i = load i64, ptr %.18.i, align 4
  %0 = trunc i64 %.19.i to i32
  %1 = and i32 %0, 1
  %spec.select.i = add i32 %1, %found.06.i
  %.27.i = add nuw i32 %i.05.i, 1
  %.13.i = icmp ult i32 %.27.i, %n
  br i1 %.13.i, label %while.body.i, label %pvdsl.count.exit

pvdsl.count.exit:                                 ; preds = %while.body.i, %entry
  %found.0.lcssa.i = phi i32 [ 0, %entry ], [ %spec.select.i, %while.body.i ]
  ret i32 %found.0.lcssa.i
}

; Function Attrs: nocallback nofree nounwind willreturn memory(argmem: write)
declare void @llvm.memset.p0.i64(ptr writeonly captures(none), i8, i64, i1 immarg) #3

attributes #0 = { noimplicitfloat noredzone nounwind }
attributes #1 = { mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none) }
attributes #2 = { nofree noimplicitfloat norecurse noredzone nosync nounwind memory(argmem: read) }
attributes #3 = { nocallback nofree nounwind willreturn memory(argmem: write) }
attributes #4 = { nounwind }

@__pvpatch = private constant [7 x { ptr, ptr, i32, i8, i8, i16, [16 x i8] }] [{ ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_read_cr2, ptr @demo_mmu_ops, i32 0, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_read_cr3, ptr @demo_mmu_ops, i32 1, i8 2, i8 0, i16 1, [16 x i8] [i8 49, i8 192, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_write_cr3, ptr @demo_mmu_ops, i32 2, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_flush_tlb_single, ptr @demo_mmu_ops, i32 3, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_set_pte, ptr @demo_mmu_ops, i32 4, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_pte_val, ptr @demo_mmu_ops, i32 5, i8 3, i8 0, i16 1, [16 x i8] [i8 72, i8 137, i8 248, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_count_present, ptr @demo_mmu_ops, i32 6, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }], section ".pvpatch", align 8
@llvm.used = appending global [1 x ptr] [ptr @__pvpatch], section "llvm.metadata"
