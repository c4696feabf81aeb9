import Engine
import Foundation
import Testing

@Suite struct RandomAndMathTests {
  /// Dropout's counter-based uniforms: mean ½, the right fraction below p, and lane i of the draw
  /// at index s equals lane 0 of the draw at s + i (so forward and backward agree however the rows
  /// are chunked).
  @Test func counterUniforms() {
    let r = CounterRandom(key: 42)
    var sum = 0.0, below = 0
    let n = 1 << 16
    for s in stride(from: 0, to: n, by: 16) {
      let u = r.uniform16(s)
      for i in 0..<16 { sum += Double(u[i]); if u[i] < 0.1 { below += 1 }; #expect(u[i] >= 0 && u[i] < 1) }
    }
    #expect(abs(sum / Double(n) - 0.5) < 0.01)
    #expect(abs(Double(below) / Double(n) - 0.1) < 0.005)
    let a = r.uniform16(100), b = r.uniform16(103)
    #expect(a[3] == b[0])
    #expect(CounterRandom(key: 43).uniform16(100) != a)
  }

  /// Resumable streams: the same state continues the same draws.
  @Test func streamsResume() throws {
    var a = RandomStream(seed: 9)
    for _ in 0..<10 { _ = a.next() }
    let saved = try JSONEncoder().encode(a)
    var b = try JSONDecoder().decode(RandomStream.self, from: saved)
    for _ in 0..<5 { #expect(a.next() == b.next()) }
    #expect(RandomStream(seed: 1).derive("x") != RandomStream(seed: 1).derive("y"))
  }

  /// The SIMD exponential behind softmax and the losses, through a public op: softmax of
  /// [x, 0] is the logistic function of x.
  @Test func vectorExpIsAccurate() {
    let xs: [Float] = stride(from: -80, through: 80, by: 0.37).map { Float($0) }
    let g = Graph(recording: false)
    let t = Tensor(shape: [xs.count, 2], values: xs.flatMap { [$0, 0] })
    let p = g.softmax(g.constant(t)).value.toArray()
    for (i, x) in xs.enumerated() {
      let exact = 1 / (1 + exp(-Double(x)))
      #expect(abs(Double(p[2 * i]) - exact) <= 2e-7 * max(exact, 1e-30) + 1e-37, "σ(\(x))")
    }
    // −∞ gives exact zeros (masked scores).
    let m = g.softmax(g.constant(Tensor(shape: [1, 3], values: [-.infinity, 1, -.infinity]))).value.toArray()
    #expect(m == [0, 1, 0])
  }
}
