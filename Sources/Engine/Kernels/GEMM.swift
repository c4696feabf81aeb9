import CBLAS

/// How matrix products accumulate. Training and sampling use float32 (OpenBLAS sgemm);
/// `float64` accumulates in double for comparisons with float64 reference outputs.
public enum MatrixPrecision: String, Sendable, Codable { case float32, float64 }

/// Row-major single-precision matrix product on OpenBLAS:
/// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, with leading dimensions in elements.
/// Every matrix product of the engine goes through here.
@inline(__always)
func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, precision: MatrixPrecision = .float32,
           insideItemRegion: Bool = false) {
  if m == 0 || n == 0 { return }
  BLASThreads.ensureEngineMode()
  if k == 0 {
    // BLAS leaves C untouched for k = 0 only when beta = 1; make the empty sum explicit.
    for i in 0..<m {
      for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] }
    }
    return
  }
  if precision == .float64 {
    dgemmRoundTrip(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                   beta: beta, c: c, ldc: ldc)
    return
  }
  @inline(__always) func call(_ m: Int, _ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                              _ c: UnsafeMutablePointer<Float>) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }
  // A few rows times a transposed weight (a linear layer on a handful of tokens, as the sampler's
  // decoder queries): OpenBLAS would repack the whole weight for them; one pass over it is faster.
  if !transA && transB && m <= 8 && !insideItemRegion {
    smallRowsTimesTransposed(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    return
  }
  let workers = Parallel.workers
  // Large products are split in row (or column) blocks, one single-threaded call per worker;
  // blocks are multiples of 16 so every call keeps whole micro-tiles.
  guard !insideItemRegion, workers > 1, m * n * k >= 1 << 20, max(m, n) >= 32 * workers else {
    call(m, n, a, b, c)
    return
  }
  let splitRows = m >= n || m >= 64 * workers
  let extent = splitRows ? m : n
  let block = (extent / workers + 15) / 16 * 16
  Parallel.perform(iterations: workers) { w in
    let lo = w * block, hi = min(extent, lo + block)
    guard lo < hi else { return }
    if splitRows {
      call(hi - lo, n, transA ? a + lo : a + lo * lda, b, c + lo * ldc)
    } else {
      call(m, hi - lo, a, transB ? b + lo * ldb : b + lo, c + lo)
    }
  }
}

/// C[m×n] = alpha·A·Bᵀ + beta·C for m ≤ 8 rows, B stored [n×k]: each row of B is read once and
/// dotted with every row of A (which stay in cache), four rows of A per pass over the row of B.
func smallRowsTimesTransposed(m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                              b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
  @inline(__always) func finish(_ i: Int, _ j: Int, _ sum: Float) {
    let o = i * ldc + j
    c[o] = beta == 0 ? alpha * sum : alpha * sum + beta * c[o]
  }
  let body: (Range<Int>) -> Void = { cols in
    for j in cols {
      let bj = b + j * ldb
      var i = 0
      while i + 4 <= m {
        let a0 = a + i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda
        var s0 = Vec(), s1 = Vec(), s2 = Vec(), s3 = Vec()
        var t = 0
        while t + 16 <= k {
          let w = loadVec(bj + t)
          s0 += loadVec(a0 + t) * w; s1 += loadVec(a1 + t) * w; s2 += loadVec(a2 + t) * w; s3 += loadVec(a3 + t) * w
          t += 16
        }
        var r0 = s0.sum(), r1 = s1.sum(), r2 = s2.sum(), r3 = s3.sum()
        while t < k { let w = bj[t]; r0 += a0[t] * w; r1 += a1[t] * w; r2 += a2[t] * w; r3 += a3[t] * w; t += 1 }
        finish(i, j, r0); finish(i + 1, j, r1); finish(i + 2, j, r2); finish(i + 3, j, r3)
        i += 4
      }
      while i < m {
        finish(i, j, dotVec(k, a + i * lda, bj))
        i += 1
      }
    }
  }
  if m * n * k >= 1 << 18 { Parallel.forRange(n, grain: 32, body) } else { body(0..<n) }
}

/// The same product with float64 operands and accumulation, rounded to float32 once at the end.
/// Slow; it exists so that outputs can be checked against float64 reference runs without the
/// float32 rounding of long dot products (attention scores feed a softmax that amplifies it).
func dgemmRoundTrip(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>,
                    lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
  let ra = transA ? k : m, ca = transA ? m : k, rb = transB ? n : k, cb = transB ? k : n
  var da = [Double](repeating: 0, count: ra * ca), db = [Double](repeating: 0, count: rb * cb)
  var dc = [Double](repeating: 0, count: m * n)
  for i in 0..<ra { for j in 0..<ca { da[i * ca + j] = Double(a[i * lda + j]) } }
  for i in 0..<rb { for j in 0..<cb { db[i * cb + j] = Double(b[i * ldb + j]) } }
  if beta != 0 { for i in 0..<m { for j in 0..<n { dc[i * n + j] = Double(c[i * ldc + j]) } } }
  cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              Int32(m), Int32(n), Int32(k), Double(alpha), da, Int32(ca), db, Int32(cb), Double(beta), &dc, Int32(n))
  for i in 0..<m { for j in 0..<n { c[i * ldc + j] = Float(dc[i * n + j]) } }
}


/// Raw throughput of the BLAS on a square product, for benchmarks that report MFU against it.
public enum GEMMBenchmark {
  /// GFLOP/s of `cblas_sgemm` on n×n×n with OpenBLAS's own threading as the machine configures
  /// it, best of `repeats` timed runs after one warm-up.
  public static func squareGFLOPs(n: Int = 2048, repeats: Int = 5) -> Double {
    let a = Tensor.filled([n, n], 0.5), b = Tensor.filled([n, n], 0.25), c = Tensor.zeros([n, n])
    var best = Double.infinity
    for r in 0...repeats {
      let t0 = Clock.now()
      BLASThreads.withConfiguredThreads {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a.pointer, Int32(n),
                    b.pointer, Int32(n), 0, c.pointer, Int32(n))
      }
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
