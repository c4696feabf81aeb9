import TestSupport
import Testing
@testable import Formats

/// The 16-bit conversions are checked exhaustively: every bit pattern decodes and re-encodes to
/// itself, and every midpoint between neighbours rounds to the even one.
@Suite struct HalfPrecisionTests {
  @Test func halfDecodeEncodeRoundTripsEveryPattern() {
    for bits in UInt16.min...UInt16.max {
      let value = HalfPrecision.float(fromHalfBits: bits)
      if value.isNaN {
        #expect(HalfPrecision.halfBits(from: value) & 0x7C00 == 0x7C00)
        #expect(HalfPrecision.halfBits(from: value) & 0x03FF != 0)
        continue
      }
      #expect(HalfPrecision.halfBits(from: value) == bits, "half \(bits) → \(value)")
    }
  }

  #if !(os(macOS) && arch(x86_64))
  @Test func halfDecodeMatchesSwiftFloat16() {
    for bits in UInt16.min...UInt16.max {
      let ours = HalfPrecision.float(fromHalfBits: bits)
      let reference = Float(Float16(bitPattern: bits))
      #expect(ours.bitPattern == reference.bitPattern || (ours.isNaN && reference.isNaN), "bits \(bits)")
    }
  }

  @Test func halfEncodeMatchesSwiftFloat16OnRandomFloats() {
    var generator = SeededGenerator(seed: 16)
    for _ in 0..<200_000 {
      // Random bit patterns concentrated on the exponents that matter for half precision.
      let exponent = UInt32.random(in: 90...160, using: &generator)
      let bits = UInt32.random(in: 0...1, using: &generator) << 31 | exponent << 23
        | UInt32.random(in: 0...0x7F_FFFF, using: &generator)
      let value = Float(bitPattern: bits)
      #expect(HalfPrecision.halfBits(from: value) == Float16(value).bitPattern, "value \(value)")
    }
  }
  #endif

  @Test func halfMidpointsRoundToEven() {
    // Neighbouring finite positive halves h and h+1 (including subnormals and the step to
    // infinity's predecessor); their midpoint is exact in Float.
    for bits in UInt16(0)..<0x7BFF {
      let low = HalfPrecision.float(fromHalfBits: bits)
      let high = HalfPrecision.float(fromHalfBits: bits + 1)
      let mid = (low + high) / 2
      let even = bits & 1 == 0 ? bits : bits + 1
      #expect(HalfPrecision.halfBits(from: mid) == even)
      #expect(HalfPrecision.halfBits(from: mid.nextUp) == bits + 1)
      #expect(HalfPrecision.halfBits(from: mid.nextDown) == bits)
      #expect(HalfPrecision.halfBits(from: -mid) == even | 0x8000)
    }
  }

  @Test func halfOverflowAndUnderflow() {
    #expect(HalfPrecision.halfBits(from: 65504) == 0x7BFF)
    #expect(HalfPrecision.halfBits(from: 65519.99) == 0x7BFF)
    #expect(HalfPrecision.halfBits(from: 65520) == 0x7C00)  // the midpoint to 65536 rounds up to ∞
    #expect(HalfPrecision.halfBits(from: 1e10) == 0x7C00)
    #expect(HalfPrecision.halfBits(from: -.infinity) == 0xFC00)
    let smallest = Float(bitPattern: 0x3380_0000)  // 2⁻²⁴
    #expect(HalfPrecision.halfBits(from: smallest / 2) == 0)  // tie → even (zero)
    #expect(HalfPrecision.halfBits(from: (smallest / 2).nextUp) == 1)
    #expect(HalfPrecision.halfBits(from: -Float.leastNonzeroMagnitude) == 0x8000)
  }

  @Test func bfloat16RoundTripsAndRoundsToEvenExhaustively() {
    for bits in UInt16.min...UInt16.max {
      let value = HalfPrecision.float(fromBFloat16Bits: bits)
      #expect(value.bitPattern == UInt32(bits) << 16)
      if value.isNaN {
        #expect(HalfPrecision.float(fromBFloat16Bits: HalfPrecision.bfloat16Bits(from: value)).isNaN)
        continue
      }
      #expect(HalfPrecision.bfloat16Bits(from: value) == bits)
      // The Float halfway to the next pattern up in magnitude (exact ties), just above and below.
      guard bits & 0x7FFF < 0x7F80 else { continue }
      let base = UInt32(bits) << 16
      let even = bits & 1 == 0 ? bits : bits + 1
      #expect(HalfPrecision.bfloat16Bits(from: Float(bitPattern: base | 0x8000)) == even)
      #expect(HalfPrecision.bfloat16Bits(from: Float(bitPattern: base | 0x8001)) == bits + 1)
      #expect(HalfPrecision.bfloat16Bits(from: Float(bitPattern: base | 0x7FFF)) == bits)
    }
  }
}
