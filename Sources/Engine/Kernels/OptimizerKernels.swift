/// Element-wise kernels of the optimiser and the weight average, SIMD and split over the cores.
public enum OptimizerKernels {
  /// Σ x² in double precision (for the global gradient norm).
  public static func sumOfSquares(_ t: Tensor) -> Double {
    let p = t.pointer, n = t.count
    let chunks = Parallel.workers
    var partial = [Double](repeating: 0, count: chunks)
    partial.withUnsafeMutableBufferPointer { out in
      let op = out.baseAddress!
      Parallel.forChunks(n, grain: 1 << 15) { c, r in
        var acc = Vec(), i = r.lowerBound
        var s = 0.0
        while i + 16 <= r.upperBound {
          let v = loadVec(p + i)
          acc += v * v
          i += 16
          if (i & 0xFFFF) == 0 { s += Double(acc.sum()); acc = Vec() }  // keep float partials short
        }
        s += Double(acc.sum())
        while i < r.upperBound { s += Double(p[i]) * Double(p[i]); i += 1 }
        op[c] = s
      }
    }
    return partial.reduce(0, +)
  }

  /// One AdamW step as PyTorch computes it (decoupled weight decay, bias-corrected moments):
  ///   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
  ///   p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + eps)
  /// with g = gradScale · grad (gradient clipping folded in).
  public static func adamW(parameter: Tensor, gradient: Tensor, m: Tensor, v: Tensor, lr: Float, beta1: Float,
                           beta2: Float, eps: Float, weightDecay: Float, step: Int, gradScale: Float) {
    precondition(parameter.count == gradient.count && m.count == parameter.count && v.count == parameter.count)
    let bc1 = 1 - Float(Foundation.pow(Double(beta1), Double(step)))
    let bc2 = 1 - Float(Foundation.pow(Double(beta2), Double(step)))
    let stepSize = lr / bc1, invSqrtBc2 = 1 / bc2.squareRoot(), decay = 1 - lr * weightDecay
    let pp = parameter.pointer, gp = gradient.pointer, mp = m.pointer, vp = v.pointer
    Parallel.forRange(parameter.count, grain: 1 << 15) { r in
      var i = r.lowerBound
      @inline(__always) func update(_ pv: Vec, _ gv: Vec, _ mv: Vec, _ vv: Vec) -> (Vec, Vec, Vec) {
        let g = gv * gradScale
        let m2 = mv * beta1 + g * (1 - beta1)
        let v2 = vv * beta2 + g * g * (1 - beta2)
        let p2 = pv * decay - stepSize * m2 / (v2.squareRoot() * invSqrtBc2 + eps)
        return (p2, m2, v2)
      }
      while i + 16 <= r.upperBound {
        let (p2, m2, v2) = update(loadVec(pp + i), loadVec(gp + i), loadVec(mp + i), loadVec(vp + i))
        storeVec(p2, pp + i); storeVec(m2, mp + i); storeVec(v2, vp + i)
        i += 16
      }
      if i < r.upperBound {
        let n = r.upperBound - i
        let (p2, m2, v2) = update(loadPartial(pp + i, n), loadPartial(gp + i, n), loadPartial(mp + i, n), loadPartial(vp + i, n))
        storePartial(p2, pp + i, n); storePartial(m2, mp + i, n); storePartial(v2, vp + i, n)
      }
    }
  }

  /// shadow ← decay·shadow + (1 − decay)·value.
  public static func movingAverage(shadow: Tensor, value: Tensor, decay: Float) {
    precondition(shadow.count == value.count)
    let sp = shadow.pointer, vp = value.pointer
    Parallel.forRange(shadow.count, grain: 1 << 15) { r in
      mapVec2(r.count, sp + r.lowerBound, vp + r.lowerBound, sp + r.lowerBound) { $0 * decay + $1 * (1 - decay) }
    }
  }

  /// dst += src (gradient accumulation across micro-batches).
  public static func accumulate(_ dst: Tensor, _ src: Tensor) { addInPlace(dst, src) }

  /// t ← 0.
  public static func zero(_ t: Tensor) { t.pointer.update(repeating: 0, count: t.count) }
}

import Foundation
