import CBLAS

/// Row-major single-precision matrix product on OpenBLAS:
/// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, with leading dimensions in elements.
/// Every matrix product of the engine goes through here.
@inline(__always)
func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
  if m == 0 || n == 0 { return }
  if k == 0 {
    // BLAS leaves C untouched for k = 0 only when beta = 1; make the empty sum explicit.
    for i in 0..<m {
      for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] }
    }
    return
  }
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Raw throughput of the BLAS on a square product, for benchmarks that report MFU against it.
public enum GEMMBenchmark {
  /// GFLOP/s of `cblas_sgemm` on n×n×n, best of `repeats` timed runs after one warm-up.
  public static func squareGFLOPs(n: Int = 2048, repeats: Int = 5) -> Double {
    let a = Tensor.filled([n, n], 0.5), b = Tensor.filled([n, n], 0.25), c = Tensor.zeros([n, n])
    var best = Double.infinity
    for r in 0...repeats {
      let t0 = Clock.now()
      sgemm(transA: false, transB: false, m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n,
            beta: 0, c: c.pointer, ldc: n)
      let dt = Clock.now() - t0
      if r > 0 { best = min(best, dt) }
    }
    return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
  }
}

/// Monotonic seconds.
public enum Clock {
  public static func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }
}

import Foundation
