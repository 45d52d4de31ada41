// Tiny kernels for gpusim's SASS listing reader tests (tests/data/sass/), written for gpusim.
// Built with nvcc 13.0.88:   nvcc -cubin -O3 -arch=sm_86 -o tiny_sm86.cubin tiny.cu
// Listings (PyPI nvidia-cuda-nvdisasm / nvidia-cuda-cuobjdump 13.5.37):
//   nvdisasm -c -hex tiny_sm86.cubin > tiny_sm86.nvdisasm.txt
//   cuobjdump -sass tiny_sm86.cubin  > tiny_sm86.cuobjdump.sass
extern "C" __global__ void saxpy(int n, float a, const float* __restrict__ x, float* __restrict__ y)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}

__global__ void block_sum(const float4* __restrict__ in, float* out, int n)
{
    __shared__ float part[32];
    float s = 0.f;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float4 v = in[i];
        s += v.x * v.y + v.z * v.w;
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x == 0) atomicAdd(out, part[0] + part[1]);
}
