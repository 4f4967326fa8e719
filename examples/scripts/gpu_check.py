"""A GPU check with the standard library only: nvidia-smi, then the CUDA driver API through ctypes.

Prints one JSON object: what nvidia-smi reports, the driver's CUDA version, each device's name,
memory and compute capability, and a round trip through device memory (allocate, fill, copy back,
compare) on device 0. Exits 1 when there is no usable GPU.
"""
import ctypes
import json
import shutil
import subprocess
import sys
import time

SMI_FIELDS = ["name", "memory.total", "driver_version", "compute_cap", "uuid"]
ATTRIBUTE_CC_MAJOR = 75  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
ATTRIBUTE_CC_MINOR = 76  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR


def nvidia_smi():
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {"error": "nvidia-smi not found"}
    done = subprocess.run([smi, "--query-gpu=" + ",".join(SMI_FIELDS), "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        return {"error": done.stderr.strip() or f"nvidia-smi exited {done.returncode}"}
    return [dict(zip(SMI_FIELDS, (cell.strip() for cell in line.split(",")))) for line in done.stdout.strip().splitlines()]


class CudaError(Exception):
    pass


def cuda_check():
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError as error:
        raise CudaError(f"libcuda.so.1 not loadable: {error}")

    def call(name, *args):
        rc = getattr(cuda, name)(*args)
        if rc != 0:
            text = ctypes.c_char_p()
            cuda.cuGetErrorString(rc, ctypes.byref(text))
            raise CudaError(f"{name} failed: {rc} {(text.value or b'').decode()}")

    CUdeviceptr = ctypes.c_uint64
    cuda.cuMemAlloc_v2.argtypes = [ctypes.POINTER(CUdeviceptr), ctypes.c_size_t]
    cuda.cuMemsetD8_v2.argtypes = [CUdeviceptr, ctypes.c_ubyte, ctypes.c_size_t]
    cuda.cuMemcpyDtoH_v2.argtypes = [ctypes.c_void_p, CUdeviceptr, ctypes.c_size_t]
    cuda.cuMemFree_v2.argtypes = [CUdeviceptr]
    cuda.cuDeviceTotalMem_v2.argtypes = [ctypes.POINTER(ctypes.c_size_t), ctypes.c_int]
    cuda.cuCtxCreate_v2.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint, ctypes.c_int]
    cuda.cuCtxDestroy_v2.argtypes = [ctypes.c_void_p]

    call("cuInit", 0)
    version = ctypes.c_int()
    call("cuDriverGetVersion", ctypes.byref(version))
    count = ctypes.c_int()
    call("cuDeviceGetCount", ctypes.byref(count))
    devices = []
    for index in range(count.value):
        device = ctypes.c_int()
        call("cuDeviceGet", ctypes.byref(device), index)
        name = ctypes.create_string_buffer(256)
        call("cuDeviceGetName", name, 256, device)
        memory = ctypes.c_size_t()
        call("cuDeviceTotalMem_v2", ctypes.byref(memory), device)
        major, minor = ctypes.c_int(), ctypes.c_int()
        call("cuDeviceGetAttribute", ctypes.byref(major), ATTRIBUTE_CC_MAJOR, device)
        call("cuDeviceGetAttribute", ctypes.byref(minor), ATTRIBUTE_CC_MINOR, device)
        devices.append({"name": name.value.decode(), "memory_mib": memory.value // (1024 * 1024), "compute_capability": f"{major.value}.{minor.value}"})
    report = {"cuda_driver_version": f"{version.value // 1000}.{version.value % 1000 // 10}", "devices": devices}
    if not devices:
        return report

    # A round trip through device memory on device 0: 64 MiB filled on the GPU, copied back.
    size = 64 * 1024 * 1024
    device = ctypes.c_int()
    call("cuDeviceGet", ctypes.byref(device), 0)
    context = ctypes.c_void_p()
    call("cuCtxCreate_v2", ctypes.byref(context), 0, device)
    try:
        pointer = CUdeviceptr()
        call("cuMemAlloc_v2", ctypes.byref(pointer), size)
        try:
            host = (ctypes.c_ubyte * size)()
            started = time.perf_counter()
            call("cuMemsetD8_v2", pointer, 0xA5, size)
            call("cuMemcpyDtoH_v2", host, pointer, size)
            seconds = time.perf_counter() - started
            ok = bytes(host[:4096]) == b"\xa5" * 4096 and host[size - 1] == 0xA5
            report["memory_round_trip"] = {"bytes": size, "ok": ok, "seconds": round(seconds, 6)}
        finally:
            call("cuMemFree_v2", pointer)
    finally:
        call("cuCtxDestroy_v2", context)
    return report


def main():
    report = {"nvidia_smi": nvidia_smi()}
    try:
        report["cuda"] = cuda_check()
    except CudaError as error:
        report["cuda"] = {"error": str(error)}
    print(json.dumps(report))
    cuda = report["cuda"]
    usable = bool(cuda.get("devices")) and cuda.get("memory_round_trip", {}).get("ok") is True
    sys.exit(0 if usable else 1)


if __name__ == "__main__":
    main()
