import Foundation

/// Rotary position embedding (GPT-NeoX style, halves rotated) and sinusoidal features.
///
/// inv_freq_j = 1 / 10000^(2j/dh) as the reference's float32 buffer; angles p·inv_freq_j and
/// their cos/sin are evaluated in double and rounded once.
public final class RotaryTable: @unchecked Sendable {
  public let headDim: Int
  /// cos and sin for each position, `headDim / 2` values each (the two halves share them).
  private(set) var cos: [Float] = []
  private(set) var sin: [Float] = []
  private(set) var positions = 0
  private let lock = NSLock()

  private static var tables: [Int: RotaryTable] = [:]
  private static let tablesLock = NSLock()

  /// The shared table for a head size.
  public static func shared(headDim: Int) -> RotaryTable {
    tablesLock.lock(); defer { tablesLock.unlock() }
    if let t = tables[headDim] { return t }
    let t = RotaryTable(headDim: headDim)
    tables[headDim] = t
    return t
  }

  init(headDim: Int) {
    precondition(headDim % 2 == 0, "rotary embedding needs an even head size, got \(headDim)")
    self.headDim = headDim
  }

  /// Makes sure positions 0..<n are tabulated; returns (cos, sin) base pointers valid until the
  /// next growth (callers hold the returned arrays).
  func ensure(_ n: Int) -> (cos: [Float], sin: [Float]) {
    lock.lock(); defer { lock.unlock() }
    if n > positions {
      let half = headDim / 2
      let newCount = max(n, positions * 2, 1024)
      var c = [Float](repeating: 0, count: newCount * half), s = c
      for j in 0..<half {
        // inv_freq is a float32 buffer in the reference; the angle is formed in double so that
        // large positions keep their precision (the float32 product loses ~1e-4 rad at p ≈ 1000).
        let inv = 1 / powf(10000, Float(2 * j) / Float(headDim))
        for p in 0..<newCount {
          let angle = Double(Float(p) * inv)
          c[p * half + j] = Float(Foundation.cos(angle))
          s[p * half + j] = Float(Foundation.sin(angle))
        }
      }
      cos = c; sin = s; positions = newCount
    }
    return (cos, sin)
  }
}

/// Rotates the `heads` head vectors of one token in place: for each head, halves a, b of size
/// dh/2 become (a·cos − b·sin, b·cos + a·sin), or the inverse rotation (the transpose) with `inverse`.
@inline(__always)
func rotateToken(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim dh: Int,
                 cos c: UnsafePointer<Float>, sin s: UnsafePointer<Float>, inverse: Bool) {
  let half = dh / 2
  for h in 0..<heads {
    let a = x + h * dh, b = a + half
    var j = 0
    while j + 16 <= half {
      let av = loadVec(a + j), bv = loadVec(b + j), cv = loadVec(c + j)
      let sv = inverse ? -loadVec(s + j) : loadVec(s + j)
      storeVec(av * cv - bv * sv, a + j)
      storeVec(bv * cv + av * sv, b + j)
      j += 16
    }
    while j < half {
      let av = a[j], bv = b[j], sv = inverse ? -s[j] : s[j]
      a[j] = av * c[j] - bv * sv
      b[j] = bv * c[j] + av * sv
      j += 1
    }
  }
}

/// Copies columns [column, column+D) of every token of `src` (row width `srcWidth`) into `dst`
/// [tokens, D] and rotates each token at its position.
func rotateRows(_ src: UnsafePointer<Float>, srcWidth: Int, column: Int, into dst: UnsafeMutablePointer<Float>,
                tokens: Int, heads: Int, headDim: Int, positions: [Int32]?, inverse: Bool) {
  let d = heads * headDim, half = headDim / 2
  let table = positions.map { p in RotaryTable.shared(headDim: headDim).ensure(Int(p.max() ?? 0) + 1) }
  Parallel.forRange(tokens, grain: max(1, 4096 / d)) { range in
    for t in range {
      let row = dst + t * d
      row.update(from: src + t * srcWidth + column, count: d)
      if let positions, let table {
        let p = Int(positions[t])
        table.cos.withUnsafeBufferPointer { cp in
          table.sin.withUnsafeBufferPointer { sp in
            rotateToken(row, heads: heads, headDim: headDim, cos: cp.baseAddress! + p * half,
                        sin: sp.baseAddress! + p * half, inverse: inverse)
          }
        }
      }
    }
  }
}

extension Graph {
  /// Rotary embedding of x [B, L, heads·dh] with each token at positions[b, l].
  public func rotary(_ x: Var, positions: TokenTensor, heads: Int) -> Var {
    let d = x.shape.last!, dh = d / heads, tokens = x.value.count / d
    precondition(d % heads == 0 && positions.count == tokens && positions.values.allSatisfy { $0 >= 0 },
                 "rotary: x \(x.shape), \(heads) heads, positions \(positions.shape)")
    let y = Tensor(uninitialized: x.shape)
    rotateRows(x.value.pointer, srcWidth: d, column: 0, into: y.pointer, tokens: tokens, heads: heads,
               headDim: dh, positions: positions.values, inverse: false)
    return record(y, x) { g, dy in
      let dx = Tensor(uninitialized: x.shape)
      rotateRows(dy.pointer, srcWidth: d, column: 0, into: dx.pointer, tokens: tokens, heads: heads,
                 headDim: dh, positions: positions.values, inverse: true)
      g.accumulate(x, dx, owned: true)
    }
  }
}

/// Sinusoidal features, the reference's two conventions.
public enum Sinusoidal {
  /// GroupSwap position features: [cos(p/10000^(2i/D)), sin(p/10000^(2i/D))], i < D/2, as float32.
  public static func positionFeatures(positions: [Int32], dim: Int) -> Tensor {
    let half = dim / 2
    let t = Tensor(uninitialized: [positions.count, dim])
    // float32 throughout, as the reference computes its `pos_freqs` buffer.
    var denom = [Float](repeating: 0, count: half)
    for i in 0..<half { denom[i] = powf(10000, Float(2 * i) / Float(dim)) }
    for (r, p) in positions.enumerated() {
      for i in 0..<half {
        let arg = Float(p) / denom[i]
        t.pointer[r * dim + i] = cosf(arg)
        t.pointer[r * dim + half + i] = sinf(arg)
      }
    }
    return t
  }

  /// Timestep features of a scalar per row: [cos(σ·f_i), sin(σ·f_i)], f_i = exp(−ln(10000)·i/half).
  public static func timestepFeatures(_ sigma: [Float], dim: Int = 256) -> Tensor {
    let half = dim / 2
    let t = Tensor.zeros([sigma.count, dim])
    for (r, s) in sigma.enumerated() {
      for i in 0..<half {
        let f = expf(-logf(10000) * Float(i) / Float(half))
        let arg = s * f
        t.pointer[r * dim + i] = Float(Foundation.cos(Double(arg)))
        t.pointer[r * dim + half + i] = Float(Foundation.sin(Double(arg)))
      }
    }
    return t
  }
}
