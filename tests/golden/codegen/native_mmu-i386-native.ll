; ModuleID = 'native_mmu-i386-native'
source_filename = "<string>"
target triple = "i686-pc-linux-gnu"

@demo_mmu_ops = dso_local local_unnamed_addr global [8 x ptr] [ptr @native_mmu_read_cr2, ptr @native_mmu_read_cr3, ptr @native_mmu_write_cr3, ptr @native_mmu_flush_tlb_single, ptr @native_mmu_set_pte, ptr @native_mmu_set_pte_atomic, ptr @native_mmu_pte_val, ptr @native_mmu_count_present], align 4

; Function Attrs: noimplicitfloat noredzone nounwind
define i32 @native_mmu_read_cr2() #0 {
entry:
  %.2 = tail call i32 asm sideeffect "", "={ecx}"() #4
  %.3 = tail call i32 asm sideeffect "mov %cr2, $0", "=r,~{memory}"() #4
  tail call void asm sideeffect "", "{ecx}"(i32 %.2) #4
  ret i32 %.3
}

; Function Attrs: noimplicitfloat noredzone nounwind
define i32 @native_mmu_read_cr3() #0 {
entry:
  %.2 = tail call i32 asm sideeffect "mov %cr3, $0", "=r,~{memory}"() #4
  ret i32 %.2
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_mmu_write_cr3(i32 inreg %cr3) #0 {
entry:
  tail call void asm sideeffect "mov $0, %cr3", "r,~{memory}"(i32 %cr3) #4
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_mmu_flush_tlb_single(i32 inreg %addr) #0 {
entry:
  %0 = zext i32 %addr to i64
  %.5 = inttoptr i64 %0 to ptr
  tail call void asm sideeffect "invlpg ($0)", "r,~{memory}"(ptr %.5) #4
  ret void
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(argmem: write)
define void @native_mmu_set_pte(ptr inreg writeonly captures(none) initializes((0, 8)) %ptep, i64 inreg %pte) #1 {
entry:
  store i64 %pte, ptr %ptep, align 4
  ret void
}

; Function Attrs: noimplicitfloat noredzone nounwind
define void @native_mmu_set_pte_atomic(ptr inreg writeonly captures(none) initializes((0, 8)) %ptep, i64 inreg %pte) #0 {
entry:
  %.10 = getelementptr i8, ptr %ptep, i64 4
  %.14 = lshr i64 %pte, 32
  %.15 = trunc nuw i64 %.14 to i32
  store i32 %.15, ptr %.10, align 4
  tail call void asm sideeffect "", "~{memory}"() #4
  %.21 = trunc i64 %pte to i32
  store i32 %.21, ptr %ptep, align 4
  ret void
}

; Function Attrs: mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none)
define i64 @native_mmu_pte_val(i64 inreg returned %pte) #2 {
entry:
  ret i64 %pte
}

; Function Attrs: nofree noimplicitfloat norecurse noredzone nosync nounwind memory(argmem: read)
define i32 @native_mmu_count_present(ptr inreg readonly captures(none) %ptes, i32 inreg %n) #3 {
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

attributes #0 = { noimplicitfloat noredzone nounwind }
attributes #1 = { mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(argmem: write) }
attributes #2 = { mustprogress nofree noimplicitfloat norecurse noredzone nosync nounwind willreturn memory(none) }
attributes #3 = { nofree noimplicitfloat norecurse noredzone nosync nounwind memory(argmem: read) }
attributes #4 = { nounwind }

!llvm.module.flags = !{!0}

!0 = !{i32 1, !"NumRegisterParameters", i32 3}

@__pvpatch = private constant [8 x { ptr, ptr, i32, i8, i8, i16, [16 x i8] }] [{ ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_mmu_read_cr2, ptr @demo_mmu_ops, i32 0, i8 3, i8 0, i16 1, [16 x i8] [i8 15, i8 32, i8 208, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_mmu_read_cr3, ptr @demo_mmu_ops, i32 1, i8 3, i8 0, i16 1, [16 x i8] [i8 15, i8 32, i8 216, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_mmu_write_cr3, ptr @demo_mmu_ops, i32 2, i8 3, i8 0, i16 0, [16 x i8] [i8 15, i8 34, i8 216, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_mmu_flush_tlb_single, ptr @demo_mmu_ops, i32 3, i8 3, i8 0, i16 0, [16 x i8] [i8 15, i8 1, i8 56, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_mmu_set_pte, ptr @demo_mmu_ops, i32 4, i8 5, i8 0, i16 0, [16 x i8] [i8 137, i8 72, i8 4, i8 137, i8 16, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_mmu_set_pte_atomic, ptr @demo_mmu_ops, i32 5, i8 5, i8 0, i16 0, [16 x i8] [i8 137, i8 72, i8 4, i8 137, i8 16, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_mmu_pte_val, ptr @demo_mmu_ops, i32 6, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }, { ptr, ptr, i32, i8, i8, i16, [16 x i8] } { ptr @native_mmu_count_present, ptr @demo_mmu_ops, i32 7, i8 0, i8 0, i16 0, [16 x i8] [i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0, i8 0] }], section ".pvpatch", align 4
@llvm.used = appending global [1 x ptr] [ptr @__pvpatch], section "llvm.metadata"
