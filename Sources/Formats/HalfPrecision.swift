// Bit-exact conversions between Float and the two 16-bit float formats. Written on bit patterns
// rather than with `Float16`, which is unavailable on some platforms (macOS on Intel), so that
// files read and written here are identical everywhere.

/// IEEE 754 binary16 and bfloat16 conversions on bit patterns.
enum HalfPrecision {
  /// binary16 → Float, exact (every half value is representable as a Float).
  static func float(fromHalfBits h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0x1F {  // infinity or NaN: keep the payload in the top mantissa bits
      return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    if exponent == 0 {
      if mantissa == 0 { return Float(bitPattern: sign) }
      // Subnormal half: mantissa × 2⁻²⁴, exact in Float (a power-of-two scale of a 10-bit integer).
      let magnitude = Float(mantissa) * Float(bitPattern: 0x3380_0000)  // 2⁻²⁴
      return sign == 0 ? magnitude : -magnitude
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))  // 112 = 127 − 15
  }

  /// Float → binary16, rounding to nearest, ties to even; overflow gives ±infinity and NaN stays
  /// a (quiet) NaN.
  static func halfBits(from value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xFF)
    let mantissa = bits & 0x7F_FFFF
    if exponent == 0xFF {
      if mantissa == 0 { return sign | 0x7C00 }
      return sign | 0x7E00 | UInt16(truncatingIfNeeded: mantissa >> 13)
    }
    let unbiased = exponent - 127
    if unbiased > 15 { return sign | 0x7C00 }
    if unbiased >= -14 {
      // Normal half. A carry out of the mantissa correctly bumps the exponent (up to infinity).
      var result = UInt32(unbiased + 15) << 10 | (mantissa >> 13)
      let remainder = mantissa & 0x1FFF
      if remainder > 0x1000 || (remainder == 0x1000 && (result & 1) == 1) { result += 1 }
      return sign | UInt16(truncatingIfNeeded: result)
    }
    // Subnormal half (or zero): the value is significand × 2^(unbiased − 23); in units of 2⁻²⁴
    // that is significand >> shift with shift = −(unbiased + 1) ≥ 14.
    if exponent == 0 { return sign }  // Float subnormals are far below half precision
    let significand = mantissa | 0x80_0000
    let shift = -(unbiased + 1)
    if shift > 24 { return sign }
    var result = significand >> UInt32(shift)
    let remainder = significand & ((1 << UInt32(shift)) - 1)
    let half = UInt32(1) << UInt32(shift - 1)
    if remainder > half || (remainder == half && (result & 1) == 1) { result += 1 }
    return sign | UInt16(truncatingIfNeeded: result)
  }

  /// bfloat16 → Float, exact.
  static func float(fromBFloat16Bits b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
  }

  /// Float → bfloat16, rounding to nearest, ties to even; NaN stays a (quiet) NaN.
  static func bfloat16Bits(from value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
    let roundingBias = 0x7FFF + ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
  }
}
