/// Seeded, resumable randomness.
///
/// `RandomStream` is xoshiro256** with an explicit 256-bit state that checkpoints save and restore,
/// so a resumed run draws exactly what an uninterrupted one would. Streams for independent purposes
/// (data order, times, masks, dropout) are derived from one seed with `derive(_:)`.
public struct RandomStream: Sendable, Codable, Equatable {
  public var state: [UInt64]

  public init(seed: UInt64) {
    var sm = seed
    state = (0..<4).map { _ in RandomStream.splitMix(&sm) }
    if state.allSatisfy({ $0 == 0 }) { state[0] = 1 }
  }

  public init(state: [UInt64]) {
    precondition(state.count == 4, "RandomStream state has 4 words")
    self.state = state
  }

  @inline(__always) static func splitMix(_ x: inout UInt64) -> UInt64 {
    x &+= 0x9E37_79B9_7F4A_7C15
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// An independent stream for a named purpose (same seed and label → same stream).
  public func derive(_ label: String) -> RandomStream {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in label.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    var mixed = state[0] ^ state[1].rotatedLeft(17) ^ state[2].rotatedLeft(31) ^ state[3] ^ h
    return RandomStream(seed: RandomStream.splitMix(&mixed))
  }

  @inline(__always) public mutating func next() -> UInt64 {
    let result = (state[1] &* 5).rotatedLeft(7) &* 9
    let t = state[1] << 17
    state[2] ^= state[0]
    state[3] ^= state[1]
    state[1] ^= state[2]
    state[0] ^= state[3]
    state[2] ^= t
    state[3] = state[3].rotatedLeft(45)
    return result
  }

  /// Uniform in [0, 1) with 24 random bits.
  @inline(__always) public mutating func uniformFloat() -> Float {
    Float(next() >> 40) * (1.0 / 16_777_216.0)
  }

  /// Uniform in [0, 1) with 53 random bits.
  @inline(__always) public mutating func uniformDouble() -> Double {
    Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
  }

  /// The same generator in four local words (no array: no uniqueness check or bounds check per
  /// draw), for loops that draw one uniform per element; `state` is written back at the end.
  @inline(__always) mutating func withLocalState<R>(_ body: (inout LocalXoshiro) -> R) -> R {
    var local = LocalXoshiro(s0: state[0], s1: state[1], s2: state[2], s3: state[3])
    let result = body(&local)
    state[0] = local.s0; state[1] = local.s1; state[2] = local.s2; state[3] = local.s3
    return result
  }

  /// Uniform integer in 0..<n (unbiased, Lemire's method).
  public mutating func int(below n: Int) -> Int {
    precondition(n > 0)
    let bound = UInt64(n)
    var m = next().multipliedFullWidth(by: bound)
    if m.low < bound {
      let threshold = (0 &- bound) % bound
      while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
    }
    return Int(m.high)
  }

  /// Standard normal (Box–Muller).
  public mutating func normal() -> Double {
    let u1 = max(uniformDouble(), 1e-300)
    let u2 = uniformDouble()
    return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
  }

  /// A uniformly random permutation of 0..<n (Fisher–Yates).
  public mutating func permutation(_ n: Int) -> [Int] {
    var p = Array(0..<n)
    if n > 1 { for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, int(below: i + 1)) } }
    return p
  }

  /// Draws from Binomial(n, p) by inversion for small n·p and by summing Bernoulli draws otherwise
  /// (n is at most a sequence length here, so the O(n) path is cheap and exact).
  public mutating func binomial(_ n: Int, _ p: Double) -> Int {
    if p <= 0 { return 0 }
    if p >= 1 { return n }
    var k = 0
    for _ in 0..<n where uniformDouble() < p { k += 1 }
    return k
  }
}

/// `RandomStream`'s xoshiro256** with its state in registers: the same numbers in the same order.
struct LocalXoshiro {
  var s0, s1, s2, s3: UInt64

  @inline(__always) mutating func next() -> UInt64 {
    let result = (s1 &* 5).rotatedLeft(7) &* 9
    let t = s1 << 17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = s3.rotatedLeft(45)
    return result
  }

  /// As `RandomStream.uniformDouble()`.
  @inline(__always) mutating func uniformDouble() -> Double {
    Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
  }
}

/// Counter-based uniforms: value i of stream (key) is a pure function of (key, i), so threads can
/// draw disjoint ranges in any order and get the same numbers (used by dropout). 32-bit lanes
/// (two rounds of the murmur3 finaliser keyed by the two halves of the key) so that 16 draws
/// vectorise; indices are taken modulo 2^32.
public struct CounterRandom: Sendable {
  public let key: UInt64
  public init(key: UInt64) { self.key = key }

  @inline(__always) static func fmix(_ h: SIMD16<UInt32>) -> SIMD16<UInt32> {
    var x = h
    x ^= x &>> 16
    x &*= 0x85EB_CA6B
    x ^= x &>> 13
    x &*= 0xC2B2_AE35
    x ^= x &>> 16
    return x
  }

  /// Uniforms in [0, 1) for indices start..<start+16 (23 random bits each).
  @inline(__always) public func uniform16(_ start: Int) -> SIMD16<Float> {
    let lo = UInt32(truncatingIfNeeded: key), hi = UInt32(truncatingIfNeeded: key >> 32)
    let base = SIMD16<UInt32>(repeating: UInt32(truncatingIfNeeded: start))
      &+ SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    let x = CounterRandom.fmix(CounterRandom.fmix(base &* 0x9E37_79B1 ^ SIMD16(repeating: lo)) ^ SIMD16(repeating: hi))
    // 23 random bits as the mantissa of a float in [1, 2), minus 1 (no int→float conversion).
    return unsafeBitCast((x &>> 9) | 0x3F80_0000, to: SIMD16<Float>.self) - 1
  }
}

extension UInt64 {
  @inline(__always) func rotatedLeft(_ k: UInt64) -> UInt64 { (self << k) | (self >> (64 - k)) }
}

import Foundation
@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }
