import CBLAS

extension Graph {
  /// y = x Wᵀ + b.  x [..., in], W [out, in] (the reference's layout), b [out] → y [..., out].
  public func linear(_ x: Var, _ w: Var, _ b: Var? = nil) -> Var {
    let inF = w.shape[1], outF = w.shape[0]
    precondition(w.rank == 2 && x.shape.last == inF, "linear: x \(x.shape) with W \(w.shape)")
    if let b { precondition(b.shape == [outF], "linear: bias \(b.shape) for W \(w.shape)") }
    let n = x.value.count / inF
    let prec = precision
    let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outF])
    if !recording && prec == .float32, let packed = packedWeights?.entry(for: w.value) {
      panelLinear(x.value.pointer, rows: n, packed, bias: b.map { UnsafePointer($0.value.pointer) }, y.pointer)
      return Var(value: y, id: -1)
    }
    if let b {
      let yp = y.pointer, bp = b.value.pointer
      Parallel.forRange(n, grain: max(1, 16384 / outF)) { rows in
        for r in rows { (yp + r * outF).update(from: bp, count: outF) }
      }
    }
    sgemm(transA: false, transB: true, m: n, n: outF, k: inF, a: x.value.pointer, lda: inF,
          b: w.value.pointer, ldb: inF, beta: b == nil ? 0 : 1, c: y.pointer, ldc: outF, precision: prec)
    let inputs = b.map { [x, w, $0] } ?? [x, w]
    return record(y, inputs: inputs) { g, dy in
      linearBackward(g, dy, x: x, w: w, b: b, rows: n, precision: prec)
    }
  }

  /// GELU(x Wᵀ + b) in one op: the bias is added in the same pass that applies the activation,
  /// and backward turns the output gradient into the pre-activation gradient in one pass too.
  /// (The MLP's first layer; saves a pass over its widest activation in each direction.)
  public func linearGELU(_ x: Var, _ w: Var, _ b: Var) -> Var {
    let inF = w.shape[1], outF = w.shape[0]
    precondition(w.rank == 2 && x.shape.last == inF && b.shape == [outF], "linearGELU: x \(x.shape), W \(w.shape), b \(b.shape)")
    let n = x.value.count / inF
    let prec = precision
    let shape = Array(x.shape.dropLast()) + [outF]
    if !recording && prec == .float32, let packed = packedWeights?.entry(for: w.value) {
      // GELU(x Wᵀ + b) applied in the panel tiles: no pre-activation kept, no second pass.
      let y = Tensor(uninitialized: shape)
      panelLinear(x.value.pointer, rows: n, packed, bias: UnsafePointer(b.value.pointer), gelu: true, y.pointer)
      return Var(value: y, id: -1)
    }
    let z = Tensor(uninitialized: shape), y = Tensor(uninitialized: shape)
    let zp = z.pointer, yp = y.pointer
    sgemm(transA: false, transB: true, m: n, n: outF, k: inF, a: x.value.pointer, lda: inF, b: w.value.pointer, ldb: inF,
          beta: 0, c: z.pointer, ldc: outF, precision: prec)
    let bp = b.value.pointer
    Parallel.forRange(n, grain: max(1, 16384 / outF)) { rows in
      for r in rows { biasGELURow(outF, zp + r * outF, bp, yp + r * outF) }
    }
    return record(y, x, w, b) { g, dy in
      let dz = Tensor(uninitialized: shape)
      let dyp = dy.pointer, dzp = dz.pointer, zp = z.pointer
      Parallel.forRange(dz.count, grain: 1 << 14) { r in
        geluBackwardKernel(r.count, dyp + r.lowerBound, zp + r.lowerBound, dzp + r.lowerBound)
      }
      linearBackward(g, dz, x: x, w: w, b: b, rows: n, precision: prec)
    }
  }
  /// Matrix product over the last two axes, batched over leading axes that match:
  /// a [..., m, k] (or [..., k, m] with transposeA), b [..., k, n] (or [..., n, k]); a 2-D b is
  /// shared by every batch item.
  public func matmul(_ a: Var, _ b: Var, transposeA: Bool = false, transposeB: Bool = false) -> Var {
    precondition(a.rank >= 2 && b.rank >= 2, "matmul needs matrices: \(a.shape) · \(b.shape)")
    let m = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
    let k = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
    let kb = transposeB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
    let n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
    precondition(k == kb, "matmul: inner sizes differ, \(a.shape) · \(b.shape)")
    let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
    precondition(batchB.isEmpty || batchB == batchA, "matmul: batch axes \(batchA) vs \(batchB)")
    let batch = batchA.reduce(1, *)
    let sharedB = batchB.isEmpty
    let prec = precision
    let y = Tensor(uninitialized: batchA + [m, n])
    let lda = transposeA ? m : k, ldb = transposeB ? k : n
    let ap = a.value.pointer, bp = b.value.pointer, yp = y.pointer
    for i in 0..<batch {
      sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k, a: ap + i * m * k, lda: lda,
            b: bp + (sharedB ? 0 : i * k * n), ldb: ldb, beta: 0, c: yp + i * m * n, ldc: n, precision: prec)
    }
    return record(y, a, b) { g, dy in
      let dyp = dy.pointer, ap = a.value.pointer, bp = b.value.pointer
      if a.needsGradient {
        // d op(A) = dY op(B)ᵀ; stored as A's layout.
        let da = Tensor(uninitialized: a.shape)
        for i in 0..<batch {
          let bi = bp + (sharedB ? 0 : i * k * n)
          if transposeA {  // A is [k, m]: dA = op(B) dYᵀ
            sgemm(transA: transposeB, transB: true, m: k, n: m, k: n, a: bi, lda: ldb,
                  b: dyp + i * m * n, ldb: n, beta: 0, c: da.pointer + i * m * k, ldc: m, precision: prec)
          } else {
            sgemm(transA: false, transB: !transposeB, m: m, n: k, k: n, a: dyp + i * m * n, lda: n,
                  b: bi, ldb: ldb, beta: 0, c: da.pointer + i * m * k, ldc: k, precision: prec)
          }
        }
        g.accumulate(a, da, owned: true)
      }
      if let (db, acc0) = g.gradientTarget(b) {
        for i in 0..<batch {
          let acc = acc0 || (sharedB && i > 0)
          let ai = ap + i * m * k
          let dbi = db.pointer + (sharedB ? 0 : i * k * n)
          if transposeB {  // B is [n, k]: dB = dYᵀ op(A)
            sgemm(transA: true, transB: transposeA, m: n, n: k, k: m, a: dyp + i * m * n, lda: n,
                  b: ai, ldb: lda, beta: acc ? 1 : 0, c: dbi, ldc: k, precision: prec)
          } else {  // dB = op(A)ᵀ dY
            sgemm(transA: !transposeA, transB: false, m: k, n: n, k: m, a: ai, lda: lda,
                  b: dyp + i * m * n, ldb: n, beta: acc ? 1 : 0, c: dbi, ldc: n, precision: prec)
          }
        }
      }
    }
  }
}

/// Gradients of y = x Wᵀ + b from dy [n, out]: dx = dy W, dW += dyᵀ x, db += Σ_rows dy.
func linearBackward(_ g: Graph, _ dy: Tensor, x: Var, w: Var, b: Var?, rows n: Int, precision prec: MatrixPrecision) {
  let inF = w.shape[1], outF = w.shape[0]
  if x.needsGradient {
    let dx = Tensor(uninitialized: x.shape)
    sgemm(transA: false, transB: false, m: n, n: inF, k: outF, a: dy.pointer, lda: outF,
          b: w.value.pointer, ldb: inF, beta: 0, c: dx.pointer, ldc: inF, precision: prec)
    g.accumulate(x, dx, owned: true)
  }
  if let (dw, acc) = g.gradientTarget(w) {
    sgemm(transA: true, transB: false, m: outF, n: inF, k: n, a: dy.pointer, lda: outF,
          b: x.value.pointer, ldb: inF, beta: acc ? 1 : 0, c: dw.pointer, ldc: inF, precision: prec)
  }
  if let b, let (db, acc) = g.gradientTarget(b) {
    columnSums(dy.pointer, rows: n, cols: outF, into: db.pointer, accumulate: acc)
  }
}

/// out[c] (+)= Σ_r x[r, c], via a BLAS matrix–vector product with a ones vector.
func columnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>,
                accumulate: Bool) {
  let ones = Ones.vector(rows)
  BLASThreads.ensureEngineMode()
  cblas_sgemv(CblasRowMajor, CblasTrans, Int32(rows), Int32(cols), 1, x, Int32(cols), ones, 1,
              accumulate ? 1 : 0, out, 1)
}

/// A shared read-only vector of ones, grown on demand.
enum Ones {
  nonisolated(unsafe) private static var storage: Tensor = .filled([4096], 1)
  private static let lock = NSLock()
  static func vector(_ n: Int) -> UnsafePointer<Float> {
    lock.lock(); defer { lock.unlock() }
    if storage.count < n { storage = .filled([n], 1) }
    return UnsafePointer(storage.pointer)
  }
}

extension Var {
  public var rank: Int { shape.count }
}

import Foundation
