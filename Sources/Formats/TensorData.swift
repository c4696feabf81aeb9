/// A tensor's contents as bytes: little-endian, contiguous, row-major (last index fastest).
///
/// This is the exchange type between the file formats and whatever tensor engine uses them; it
/// owns no engine-specific storage. A shape of `[]` is a scalar (one element); a zero in the
/// shape makes an empty tensor.
public struct TensorData: Equatable, Sendable {
  public let dtype: DType
  public let shape: [Int]
  /// `elementCount × dtype.elementSize` bytes.
  public let bytes: [UInt8]

  /// Wraps raw bytes; throws if their count does not match the shape.
  public init(dtype: DType, shape: [Int], bytes: [UInt8]) throws {
    guard let count = TensorData.elementCount(of: shape) else { throw TensorDataError.invalidShape(shape) }
    let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.elementSize)
    guard !overflow else { throw TensorDataError.invalidShape(shape) }
    guard bytes.count == expected else {
      throw TensorDataError.byteCountMismatch(shape: shape, dtype: dtype, expected: expected, actual: bytes.count)
    }
    self.dtype = dtype
    self.shape = shape
    self.bytes = bytes
  }

  /// Encodes floats as `dtype` (F32, F64, or F16/BF16 rounded to nearest, ties to even).
  public init(floats: [Float], shape: [Int], dtype: DType = .f32) throws {
    guard dtype.isFloatingPoint else { throw TensorDataError.wrongKind(dtype, wanted: "a floating-point dtype") }
    var out = ByteWriter(capacity: floats.count * dtype.elementSize)
    switch dtype {
    case .f32: for v in floats { out.append(v.bitPattern) }
    case .f64: for v in floats { out.append(Double(v).bitPattern) }
    case .f16: for v in floats { out.append(HalfPrecision.halfBits(from: v)) }
    case .bf16: for v in floats { out.append(HalfPrecision.bfloat16Bits(from: v)) }
    default: break
    }
    try self.init(dtype: dtype, shape: shape, bytes: out.bytes)
  }

  /// Encodes doubles as F64 exactly, or as a narrower float type (rounded to nearest, ties to
  /// even, through Float for F16/BF16 — exact whenever the double is a Float).
  public init(doubles: [Double], shape: [Int], dtype: DType = .f64) throws {
    if dtype == .f64 {
      var out = ByteWriter(capacity: doubles.count * 8)
      for v in doubles { out.append(v.bitPattern) }
      try self.init(dtype: .f64, shape: shape, bytes: out.bytes)
    } else {
      try self.init(floats: doubles.map { Float($0) }, shape: shape, dtype: dtype)
    }
  }

  /// Encodes integers as an integer dtype (or BOOL: 0 → false, anything else → true); throws if a
  /// value does not fit.
  public init(int64s: [Int64], shape: [Int], dtype: DType = .i64) throws {
    var out = ByteWriter(capacity: int64s.count * dtype.elementSize)
    func narrow<T: FixedWidthInteger>(_ v: Int64, _: T.Type) throws -> T {
      guard let n = T(exactly: v) else { throw TensorDataError.valueOutOfRange(v, dtype) }
      return n
    }
    switch dtype {
    case .i64: for v in int64s { out.append(UInt64(bitPattern: v)) }
    case .i32: for v in int64s { out.append(UInt32(bitPattern: try narrow(v, Int32.self))) }
    case .i16: for v in int64s { out.append(UInt16(bitPattern: try narrow(v, Int16.self))) }
    case .i8: for v in int64s { out.append(UInt8(bitPattern: try narrow(v, Int8.self))) }
    case .u8: for v in int64s { out.append(try narrow(v, UInt8.self)) }
    case .bool: for v in int64s { out.append(UInt8(v != 0 ? 1 : 0)) }
    default: throw TensorDataError.wrongKind(dtype, wanted: "an integer or BOOL dtype")
    }
    try self.init(dtype: dtype, shape: shape, bytes: out.bytes)
  }

  /// Number of elements (1 for a scalar).
  public var elementCount: Int { bytes.count / dtype.elementSize }

  /// The values as Float: exact for F32/F16/BF16, rounded to nearest for F64.
  public func floats() throws -> [Float] {
    switch dtype {
    case .f32: return decode(UInt32.self) { Float(bitPattern: $0) }
    case .f64: return decode(UInt64.self) { Float(Double(bitPattern: $0)) }
    case .f16: return decode(UInt16.self) { HalfPrecision.float(fromHalfBits: $0) }
    case .bf16: return decode(UInt16.self) { HalfPrecision.float(fromBFloat16Bits: $0) }
    default: throw TensorDataError.wrongKind(dtype, wanted: "a floating-point dtype (F32, F16, BF16, F64)")
    }
  }

  /// The values as Double, exact for every floating-point dtype.
  public func doubles() throws -> [Double] {
    if dtype == .f64 { return decode(UInt64.self) { Double(bitPattern: $0) } }
    return try floats().map { Double($0) }
  }

  /// The values as Int64 from any integer dtype or BOOL (false → 0, true → 1).
  public func int64s() throws -> [Int64] {
    switch dtype {
    case .i64: return decode(UInt64.self) { Int64(bitPattern: $0) }
    case .i32: return decode(UInt32.self) { Int64(Int32(bitPattern: $0)) }
    case .i16: return decode(UInt16.self) { Int64(Int16(bitPattern: $0)) }
    case .i8: return decode(UInt8.self) { Int64(Int8(bitPattern: $0)) }
    case .u8: return decode(UInt8.self) { Int64($0) }
    case .bool: return decode(UInt8.self) { $0 == 0 ? 0 : 1 }
    default: throw TensorDataError.wrongKind(dtype, wanted: "an integer or BOOL dtype (I64, I32, I16, I8, U8, BOOL)")
    }
  }

  /// Product of the dimensions, or nil if one is negative or the product overflows.
  public static func elementCount(of shape: [Int]) -> Int? {
    var count = 1
    for dimension in shape {
      guard dimension >= 0 else { return nil }
      let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
      guard !overflow else { return nil }
      count = product
    }
    return count
  }

  private func decode<Raw: FixedWidthInteger, T>(_: Raw.Type, _ convert: (Raw) -> T) -> [T] {
    let stride = MemoryLayout<Raw>.size
    let count = bytes.count / stride
    return bytes.withUnsafeBytes { raw in
      (0..<count).map { i in convert(Raw(littleEndian: raw.loadUnaligned(fromByteOffset: i * stride, as: Raw.self))) }
    }
  }
}

/// Why a `TensorData` could not be built or converted.
public enum TensorDataError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidShape([Int])
  case byteCountMismatch(shape: [Int], dtype: DType, expected: Int, actual: Int)
  case wrongKind(DType, wanted: String)
  case valueOutOfRange(Int64, DType)

  public var description: String {
    switch self {
    case .invalidShape(let shape):
      return "invalid tensor shape \(shape): negative dimension or element count overflows"
    case let .byteCountMismatch(shape, dtype, expected, actual):
      return "a \(dtype) tensor of shape \(shape) needs \(expected) bytes, got \(actual)"
    case let .wrongKind(dtype, wanted):
      return "expected \(wanted), but the tensor is \(dtype)"
    case let .valueOutOfRange(value, dtype):
      return "value \(value) does not fit in \(dtype)"
    }
  }
}

/// Appends little-endian integers to a byte array.
struct ByteWriter {
  private(set) var bytes: [UInt8] = []

  init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

  mutating func append<T: FixedWidthInteger>(_ value: T) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
  }

  mutating func append(contentsOf other: [UInt8]) { bytes.append(contentsOf: other) }
}
