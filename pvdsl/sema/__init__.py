"""pvdsl.sema"""
