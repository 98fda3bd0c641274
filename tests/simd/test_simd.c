/* placeholder replaced by the SIMD test; fails so it cannot pass unnoticed */
#include <stdio.h>
int main(void) { printf("0 passed, 1 failed\n"); return 1; }
