/// SIMD elementary functions. Accuracy: a few ulp in float32 over the ranges networks produce,
/// far inside the 1e-4 parity budget; they exist because scalar `expf` is ~10x slower.
public typealias Vec = SIMD16<Float>
typealias IVec = SIMD16<Int32>

/// Lane-wise max / min. (The standard library's generic `pointwiseMax` is not lowered to vector
/// instructions and runs ~15x slower; a compare-and-select is.)
@inline(__always) func vmax(_ a: Vec, _ b: Vec) -> Vec { a.replacing(with: b, where: a .< b) }
@inline(__always) func vmin(_ a: Vec, _ b: Vec) -> Vec { a.replacing(with: b, where: b .< a) }

/// e^x (Cephes-style range reduction, degree-6 polynomial). Saturates to 0 below -87.3 and to
/// ~1.7e38 above 88.3; −∞ gives 0 (used by masked softmax).
/// `@_transparent`, not `@inline(__always)`: with the latter the optimiser left it out of line in
/// the softmax (4 call sites in one function), where the 16-lane argument and result travel as four
/// xmm halves and every operation runs 4 lanes wide — 7% of a sampling run.
@_transparent func vexp(_ x: Vec) -> Vec {
  let xc = vmin(vmax(x, Vec(repeating: -87.3)), Vec(repeating: 88.3))
  // Round-to-nearest of x·log2(e) by the 1.5·2^23 trick; n stays in the low mantissa bits. Fused
  // multiply-adds throughout: one rounding per step, and a third fewer instructions than separate
  // products and sums (the exponentials are most of inference attention's softmax).
  let t = Vec(repeating: 12_582_912.0).addingProduct(xc, Vec(repeating: 1.442_695_040_888_963_4))
  let n = t - 12_582_912.0
  let r = xc.addingProduct(n, Vec(repeating: -0.693_359_375)).addingProduct(n, Vec(repeating: 2.121_944_4e-4))
  var p = Vec(repeating: 1.398_199_950_7e-3).addingProduct(Vec(repeating: 1.987_569_15e-4), r)
  p = Vec(repeating: 8.333_451_907_3e-3).addingProduct(p, r)
  p = Vec(repeating: 4.166_579_589_4e-2).addingProduct(p, r)
  p = Vec(repeating: 1.666_666_545_9e-1).addingProduct(p, r)
  p = Vec(repeating: 5.000_000_120_1e-1).addingProduct(p, r)
  p = (r + 1).addingProduct(p, r * r)
  let ni = unsafeBitCast(t, to: IVec.self) &- 0x4B40_0000
  let scale = unsafeBitCast((ni &+ 127) &<< 23, to: Vec.self)
  var result = p * scale
  result.replace(with: 0, where: x .< -87.3)  // exact zeros for masked (−∞) scores
  return result
}

@_transparent func vsigmoid(_ x: Vec) -> Vec { 1 / (1 + vexp(-x)) }

@inline(__always) func loadVec(_ p: UnsafePointer<Float>) -> Vec {
  UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inline(__always) func storeVec(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

/// Loads `n < 16` floats, padding with `fill`.
@inline(__always) func loadPartial(_ p: UnsafePointer<Float>, _ n: Int, fill: Float = 0) -> Vec {
  var v = Vec(repeating: fill)
  for i in 0..<n { v[i] = p[i] }
  return v
}

@inline(__always) func storePartial(_ v: Vec, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
  for i in 0..<n { p[i] = v[i] }
}

/// Applies a vector function over n floats (main loop in SIMD, the tail through a padded vector so
/// that tail elements get exactly the same arithmetic).
@inline(__always) func mapVec(_ n: Int, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                             _ f: (Vec) -> Vec) {
  var i = 0
  while i + 16 <= n { storeVec(f(loadVec(src + i)), dst + i); i += 16 }
  if i < n { storePartial(f(loadPartial(src + i, n - i)), dst + i, n - i) }
}

@inline(__always) func mapVec2(_ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                              _ dst: UnsafeMutablePointer<Float>, _ f: (Vec, Vec) -> Vec) {
  var i = 0
  while i + 16 <= n { storeVec(f(loadVec(a + i), loadVec(b + i)), dst + i); i += 16 }
  if i < n { storePartial(f(loadPartial(a + i, n - i), loadPartial(b + i, n - i)), dst + i, n - i) }
}

/// Σ x over n floats.
@inline(__always) func sumVec(_ n: Int, _ x: UnsafePointer<Float>) -> Float {
  var acc = Vec(), i = 0
  while i + 16 <= n { acc += loadVec(x + i); i += 16 }
  var s = acc.sum()
  while i < n { s += x[i]; i += 1 }
  return s
}

/// Σ a·b over n floats.
@inline(__always) func dotVec(_ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
  var acc = Vec(), i = 0
  while i + 16 <= n { acc += loadVec(a + i) * loadVec(b + i); i += 16 }
  var s = acc.sum()
  while i < n { s += a[i] * b[i]; i += 1 }
  return s
}

/// max x over n floats (−∞ for n = 0).
@inline(__always) func maxVec(_ n: Int, _ x: UnsafePointer<Float>) -> Float {
  var acc = Vec(repeating: -.infinity), i = 0
  while i + 16 <= n { acc = vmax(acc, loadVec(x + i)); i += 16 }
  var m = acc.max()
  while i < n { m = Swift.max(m, x[i]); i += 1 }
  return m
}

/// y += a·x over n floats.
@inline(__always) func axpyVec(_ n: Int, _ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
  var i = 0
  let av = Vec(repeating: a)
  while i + 16 <= n { storeVec(loadVec(y + i) + av * loadVec(x + i), y + i); i += 16 }
  while i < n { y[i] += a * x[i]; i += 1 }
}
