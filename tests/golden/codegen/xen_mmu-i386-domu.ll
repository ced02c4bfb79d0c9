; ModuleID = 'xen_mmu-i386-domu'
source_filename = "<string>"
target triple = "i686-pc-linux-gnu"

@demo_mmu_ops = dso_local local_unnamed_addr global [8 x ptr] [ptr @xen_mmu_read_cr2, ptr @xen_mmu_read_cr3, ptr @xen_mmu_write_cr3, ptr @xen_mmu_flush_tlb_single, ptr @xen_mmu_set_pte, ptr @xen_mmu_set_pte_atomic, ptr @xen_mmu_pte_val, ptr @xen_mmu_count_present], align 4
@xen_vcpu_info = dso_local local_unnamed_addr addrspace(257) global [64 x i8] zeroinitializer, section ".data..percpu", align 4

; Function Attrs: noimplicitfloat noredzone nounwind
define i32 @xen_mmu_read_cr2() #0 {
entry:
  %.2 = tail call i32 asm sideeffect "", "={ecx}"() #4
  %.6 = load i32, ptr addrspace(257) getelementptr inbounds nuw (i8, ptr addrspace(257) @xen_vcpu_info, i64 8), align 4
  tail call void asm sideeffect "", "{ecx}"(i32 %.2) #4
  ret i32 %.6
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define noundef i32 @xen_mmu_read_cr3() #1 {
entry:
  ret i32 0
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_mmu_write_cr3(i32 inreg %cr3) #0 {
entry:
  %op = alloca [12 x i8], align 1
  %.fca.4.gep = getelementptr inbounds nuw i8, ptr %op, i64 4
  %0 = getelementptr inbounds nuw i8, ptr %op, i64 8
  store i32 0, ptr %0, align 1
  store i32 5, ptr %op, align 4
  %.11 = lshr i32 %cr3, 12
  store i32 %.11, ptr %.fca.4.gep, align 4
  %1 = ptrtoint ptr %op to i64
  %.5.i = trunc i64 %1 to i32
  %.8.i = call { i32, i32, i32, i32, i32, i32 } asm sideeffect "call hypercall_page+832", "={eax},={ebx},={ecx},={edx},={esi},={edi},1,2,3,4,~{memory},~{dirflag},~{fpsr},~{flags}"(i32 %.5.i, i32 1, i32 0, i32 32752) #4
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_mmu_flush_tlb_single(i32 inreg %addr) #0 {
entry:
  %op = alloca [12 x i8], align 1
  %.fca.4.gep = getelementptr inbounds nuw i8, ptr %op, i64 4
  %0 = getelementptr inbounds nuw i8, ptr %op, i64 8
  store i32 0, ptr %0, align 1
  store i32 7, ptr %op, align 4
  store i32 %addr, ptr %.fca.4.gep, align 4
  %1 = ptrtoint ptr %op to i64
  %.5.i = trunc i64 %1 to i32
  %.8.i = call { i32, i32, i32, i32, i32, i32 } asm sideeffect "call hypercall_page+832", "={eax},={ebx},={ecx},={edx},={esi},={edi},1,2,3,4,~{memory},~{dirflag},~{fpsr},~{flags}"(i32 %.5.i, i32 1, i32 0, i32 32752) #4
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_mmu_set_pte(ptr inreg %ptep, i64 inreg %pte) #0 {
entry:
  %u = alloca [16 x i8], align 8
  %.fca.8.gep = getelementptr inbounds nuw i8, ptr %u, i64 8
  %0 = ptrtoint ptr %ptep to i64
  %.10 = and i64 %0, 4294967295
  store i64 %.10, ptr %u, align 8
  store i64 %pte, ptr %.fca.8.gep, align 8
  %1 = ptrtoint ptr %u to i64
  %.16 = trunc i64 %1 to i32
  %.19 = call { i32, i32, i32, i32, i32, i32 } asm sideeffect "call hypercall_page+32", "={eax},={ebx},={ecx},={edx},={esi},={edi},1,2,3,4,~{memory},~{dirflag},~{fpsr},~{flags}"(i32 %.16, i32 1, i32 0, i32 32752) #4
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @xen_mmu_set_pte_atomic(ptr inreg %ptep, i64 inreg %pte) #0 {
entry:
  %u.i = alloca [16 x i8], align 8
  call void @llvm.lifetime.start.p0(ptr nonnull %u.i)
  %.fca.8.gep.i = getelementptr inbounds nuw i8, ptr %u.i, i64 8
  %0 = ptrtoint ptr %ptep to i64
  %.10.i = and i64 %0, 4294967295
  store i64 %.10.i, ptr %u.i, align 8
  store i64 %pte, ptr %.fca.8.gep.i, align 8
  %1 = ptrtoint ptr %u.i to i64
  %.16.i = trunc i64 %1 to i32
  %.19.i = call { i32, i32, i32, i32, i32, i32 } asm sideeffect "call hypercall_page+32", "={eax},={ebx},={ecx},={edx},={esi},={edi},1,2,3,4,~{memory},~{dirflag},~{fpsr},~{flags}"(i32 %.16.i, i32 1, i32 0, i32 32752) #4
  call void @llvm.lifetime.end.p0(ptr nonnull %u.i)
  ret void
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define i64 @xen_mmu_pte_val(i64 inreg returned %pte) #1 {
entry:
  ret i64 %pte
}

; Function Attrs: nofree noimplicitfloat norecurse noredzone nosync nounwind memory(argmem: read)
define i32 @xen_mmu_count_present(ptr inreg readonly captures(none) %ptes, i32 inreg %n) #2 {
entry:
  %.134.not.i = icmp eq i32 %n, 0
  br i1 %.134.not.i, label %pvdsl.count.exit, label %while.body.i

while.body.i:                                     ; preds = %entry, %while.body.i
  %found.06.i = phi i32 [ %spec.select.i, %while.body.i ], [ 0, %entry ]
  %i.05.i = phi i32 [ %.26.i, %while.body.i ], [ 0, %entry ]
  %0 = sext i32 %i.05.i to i64
  %.17.i = getelementptr i64, ptr %ptes, i64 %0
  %.18.i = load i64, ptr %.17.i, align 4
  %1 = trunc i64 %.18.i to i32
  %2 = and i32 %1, 1
  %spec.select.i = add i32 %2, %found.06.i
  %.26.i = add nuw i32 %i.05.i, 1
  %.13.i = icmp ult i32 %.26.i, %n
  br i1 %.13.i, label %while.body.i, label %pvdsl.count.exit

pvdsl.count.exit:                                 ; preds = %while.body.i, %entry
  %found.0.lcssa.i = phi i32 [ 0, %entry ], [ %spec.select.i, %while.body.i ]
  ret i32 %found.0.lcssa.i
}

; Function Attrs: nocallback nofree nosync nounwind willreturn memory(argmem: readwrite)
declare void @llvm.lifetime.start.p0(ptr captures(none)) #3

; Function Attrs: nocallback nofree nosync nounwind willreturn memory(argmem: readwrite)
declare void @llvm.lifetime.end.p0(ptr captures(none)) #3

attributes #0 = { noimplicitfloat noredzone nounwind }
attributes #1 = { mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none) }
attributes #2 = { nofree noimplicitfloat norecurse noredzone nosync nounwind memory(argmem: read) }
attributes #3 = { nocallback nofree nosync nounwind willreturn memory(argmem: readwrite) }
attributes #4 = { nounwind }

!llvm.module.flags = !{!0}

!0 = !{i32 1, !"NumRegisterParameters", i32 3}

@__pvpatch = private constant [8 x { ptr, ptr, i32, i8, i8, i16, [16 x i8] }] [{ ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_read_cr2, ptr @demo_mmu_ops, i32 0, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_read_cr3, ptr @demo_mmu_ops, i32 1, i8 2, i8 0, i16 1, [16 x i8] [i8 49, i8 192, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_write_cr3, ptr @demo_mmu_ops, i32 2, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_flush_tlb_single, ptr @demo_mmu_ops, i32 3, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_set_pte, ptr @demo_mmu_ops, i32 4, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_set_pte_atomic, ptr @demo_mmu_ops, i32 5, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_pte_val, ptr @demo_mmu_ops, i32 6, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @xen_mmu_count_present, ptr @demo_mmu_ops, i32 7, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }], section ".pvpatch", align 4
@llvm.used = appending global [1 x ptr] [ptr @__pvpatch], section "llvm.metadata"
