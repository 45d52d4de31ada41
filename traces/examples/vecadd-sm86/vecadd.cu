// Element-wise c[i] = a[i] + b[i] over n floats: the quick-start kernel of gpusim.
// Compiled with: nvcc -cubin -O3 -arch=sm_86 -o vecadd.cubin vecadd.cu
extern "C" __global__ void vecadd(const float *__restrict__ a, const float *__restrict__ b,
                                  float *__restrict__ c, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i];
}
