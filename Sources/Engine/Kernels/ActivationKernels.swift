/// GELU (tanh form) kernels as plain loops: passing the per-vector function as a closure kept the
/// exponential out of line (10% of an inference pass in a profile); these loops inline it.

/// dst = GELU(src + bias) and src ← src + bias, over one row of n (bias may be nil).
@inline(__always)
func biasGELURow(_ n: Int, _ z: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>) {
  var i = 0
  while i < n {
    let m = min(16, n - i)
    var v = m == 16 ? loadVec(z + i) : loadPartial(z + i, m)
    if let bias { v += m == 16 ? loadVec(bias + i) : loadPartial(bias + i, m) }
    store(v, z + i, m)
    store(v * vsigmoid(2 * geluU(v)), y + i, m)
    i += 16
  }
}

/// dx = dy · GELU'(x) over n elements.
@inline(__always)
func geluBackwardKernel(_ n: Int, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
  var i = 0
  while i < n {
    let m = min(16, n - i)
    let v = m == 16 ? loadVec(x + i) : loadPartial(x + i, m)
    let d = m == 16 ? loadVec(dy + i) : loadPartial(dy + i, m)
    store(d * geluDerivative(v), dx + i, m)
    i += 16
  }
}

/// y = GELU(x) over n elements.
@inline(__always)
func geluForwardKernel(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
  var i = 0
  while i < n {
    let m = min(16, n - i)
    let v = m == 16 ? loadVec(x + i) : loadPartial(x + i, m)
    store(v * vsigmoid(2 * geluU(v)), y + i, m)
    i += 16
  }
}
