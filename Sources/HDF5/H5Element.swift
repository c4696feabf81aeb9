// Swift element types and the HDF5 native types they are stored as.
import CHDF5

/// The element types a dataset can hold. Names say the stored width, which is what a reader of
/// the file (h5py, h5dump) sees.
public enum H5ElementType: String, Sendable, CaseIterable {
  case float32, float64, int32, int64, uint8, uint16

  /// Size of one element in bytes.
  public var byteCount: Int {
    switch self {
    case .float32, .int32: 4
    case .float64, .int64: 8
    case .uint8: 1
    case .uint16: 2
    }
  }

  /// The native (in-memory) HDF5 type. Call with the library lock held.
  var nativeType: hid_t {
    switch self {
    case .float32: pgm_h5t_native_float()
    case .float64: pgm_h5t_native_double()
    case .int32: pgm_h5t_native_int32()
    case .int64: pgm_h5t_native_int64()
    case .uint8: pgm_h5t_native_uint8()
    case .uint16: pgm_h5t_native_uint16()
    }
  }

  /// Classifies a stored datatype; nil for anything this module does not read (strings,
  /// compounds, int8, 16-bit floats, ...). Byte order does not matter: HDF5 converts it on read.
  /// Call with the library lock held.
  static func classify(_ type: hid_t) -> H5ElementType? {
    let size = H5Tget_size(type)
    switch H5Tget_class(type) {
    case H5T_FLOAT:
      return size == 4 ? .float32 : size == 8 ? .float64 : nil
    case H5T_INTEGER:
      let signed = H5Tget_sign(type) == H5T_SGN_2
      switch (signed, size) {
      case (true, 4): return .int32
      case (true, 8): return .int64
      case (false, 1): return .uint8
      case (false, 2): return .uint16
      default: return nil
      }
    default:
      return nil
    }
  }

  /// A readable name for any stored datatype, used in type-mismatch errors.
  static func describe(_ type: hid_t) -> String {
    if let known = classify(type) { return known.rawValue }
    let size = H5Tget_size(type)
    switch H5Tget_class(type) {
    case H5T_INTEGER: return "\(H5Tget_sign(type) == H5T_SGN_2 ? "int" : "uint")\(size * 8)"
    case H5T_FLOAT: return "float\(size * 8)"
    case H5T_STRING: return "string"
    case H5T_COMPOUND: return "compound"
    case H5T_ARRAY: return "array"
    case H5T_ENUM: return "enum"
    default: return "unsupported type"
    }
  }
}

/// A Swift type that can be the element of a dataset. Conformances exist for `Float`, `Double`,
/// `Int32`, `Int64`, `UInt8` and `UInt16`; other types cannot be stored.
public protocol H5Element: BitwiseCopyable, Sendable {
  /// How this type is stored.
  static var h5Type: H5ElementType { get }
  /// The value of a fresh buffer element (zero).
  static var h5Zero: Self { get }
}

extension Float: H5Element {
  public static var h5Type: H5ElementType { .float32 }
  public static var h5Zero: Float { 0 }
}
extension Double: H5Element {
  public static var h5Type: H5ElementType { .float64 }
  public static var h5Zero: Double { 0 }
}
extension Int32: H5Element {
  public static var h5Type: H5ElementType { .int32 }
  public static var h5Zero: Int32 { 0 }
}
extension Int64: H5Element {
  public static var h5Type: H5ElementType { .int64 }
  public static var h5Zero: Int64 { 0 }
}
extension UInt8: H5Element {
  public static var h5Type: H5ElementType { .uint8 }
  public static var h5Zero: UInt8 { 0 }
}
extension UInt16: H5Element {
  public static var h5Type: H5ElementType { .uint16 }
  public static var h5Zero: UInt16 { 0 }
}
