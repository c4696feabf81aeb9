// Small named values attached to a file, group or dataset.
import CHDF5

/// The values an attribute can hold.
///
/// Strings are stored as variable-length UTF-8 strings, which h5py reads as `str` and h5dump
/// prints as a normal string. Arrays are 1-D.
public enum H5AttributeValue: Equatable, Sendable {
  case string(String)
  case int64(Int64)
  case double(Double)
  case int64Array([Int64])
  case doubleArray([Double])
}

/// The attributes of one file, group or dataset (a view: holds the file, not an identifier).
///
/// Reads check the stored type: `int64(_:)` of a string attribute throws `.typeMismatch`.
/// Any stored integer type reads as `Int64` and any float type as `Double` (HDF5 converts);
/// fixed-length strings (as some writers store them) read as `String` too.
public struct H5Attributes: Sendable {
  /// The file of the object.
  public let file: H5File
  /// The object's absolute HDF5 path.
  public let objectPath: String

  /// Attributes live in the object header, which HDF5 limits to 64 KiB per message here.
  private static let maxBytes = 60_000

  // MARK: Writing

  /// Sets (creates or overwrites) an attribute. Overwriting with a value of the same type and
  /// size rewrites it in place; otherwise the old attribute is replaced.
  public func set(_ name: String, _ value: H5AttributeValue) throws {
    try H5Library.serialized {
      let context = self.context("write attribute", name)
      try file.requireWritable(context)
      let object = try openObject(context)
      let type = try H5AttributeCodec.storedType(for: value, context)
      let space = try H5AttributeCodec.dataspace(for: value, context)
      if case .int64Array(let v) = value, v.count * 8 > Self.maxBytes { throw tooLarge(context) }
      if case .doubleArray(let v) = value, v.count * 8 > Self.maxBytes { throw tooLarge(context) }
      if case .string(let s) = value, s.utf8.count > Self.maxBytes { throw tooLarge(context) }
      if case .string(let s) = value, s.utf8.contains(0) {
        throw context.error("the string contains a NUL character", kind: .invalidArgument)
      }
      let exists = try context.check(H5Aexists(object.id, name), "cannot look up the attribute")
      var attribute: hid_t = -1
      if exists > 0 {
        let old = try context.checkID(H5Aopen(object.id, name, pgm_h5p_default()),
                                      "cannot open the attribute")
        if H5AttributeCodec.sameLayout(old, type: type.id, space: space.id) {
          attribute = old
        } else {
          H5Aclose(old)
          try context.check(H5Adelete(object.id, name), "cannot delete the old attribute")
        }
      }
      if attribute < 0 {
        attribute = try context.checkID(
          H5Acreate2(object.id, name, type.id, space.id, pgm_h5p_default(), pgm_h5p_default()),
          "cannot create the attribute")
      }
      let open = H5Temporary(attribute, H5Aclose)
      try H5AttributeCodec.write(value, to: open.id, context)
    }
  }

  /// Sets a string attribute.
  public func set(_ name: String, _ value: String) throws { try set(name, .string(value)) }
  /// Sets an integer attribute (stored as int64).
  public func set(_ name: String, _ value: Int) throws { try set(name, .int64(Int64(value))) }
  /// Sets an integer attribute.
  public func set(_ name: String, _ value: Int64) throws { try set(name, .int64(value)) }
  /// Sets a floating-point attribute (stored as float64).
  public func set(_ name: String, _ value: Double) throws { try set(name, .double(value)) }
  /// Sets a 1-D integer array attribute.
  public func set(_ name: String, _ value: [Int64]) throws { try set(name, .int64Array(value)) }
  /// Sets a 1-D floating-point array attribute.
  public func set(_ name: String, _ value: [Double]) throws { try set(name, .doubleArray(value)) }

  /// Deletes an attribute; throws `.notFound` if there is none.
  public func remove(_ name: String) throws {
    try H5Library.serialized {
      let context = self.context("delete attribute", name)
      try file.requireWritable(context)
      let object = try openObject(context)
      guard H5Aexists(object.id, name) > 0 else {
        throw context.error("no attribute with this name", kind: .notFound)
      }
      try context.check(H5Adelete(object.id, name), "cannot delete the attribute")
    }
  }

  // MARK: Reading

  /// Whether the attribute exists.
  public func contains(_ name: String) throws -> Bool {
    try H5Library.serialized {
      let context = self.context("look up attribute", name)
      let object = try openObject(context)
      return try context.check(H5Aexists(object.id, name), "cannot look up the attribute") > 0
    }
  }

  /// The names of all attributes, sorted.
  public func names() throws -> [String] {
    try H5Library.serialized {
      let context = self.context("list attributes", nil)
      let object = try openObject(context)
      var info = H5O_info_t()
      try context.check(H5Oget_info2(object.id, &info, UInt32(H5O_INFO_NUM_ATTRS)),
                        "cannot count the attributes")
      var names: [String] = []
      for index in 0..<info.num_attrs {
        let length = H5Aget_name_by_idx(object.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0,
                                        pgm_h5p_default())
        guard length >= 0 else { throw context.error("cannot get an attribute name", kind: .library, readStack: true) }
        var buffer = [CChar](repeating: 0, count: Int(length) + 1)
        _ = H5Aget_name_by_idx(object.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer,
                               buffer.count, pgm_h5p_default())
        names.append(String(cString: buffer))
      }
      return names.sorted()
    }
  }

  /// Reads an attribute of any supported type.
  public func value(_ name: String) throws -> H5AttributeValue {
    try H5Library.serialized {
      let context = self.context("read attribute", name)
      let object = try openObject(context)
      guard H5Aexists(object.id, name) > 0 else {
        throw context.error("no attribute with this name", kind: .notFound)
      }
      let attribute = H5Temporary(try context.checkID(H5Aopen(object.id, name, pgm_h5p_default()),
                                                      "cannot open the attribute"), H5Aclose)
      return try H5AttributeCodec.read(attribute.id, context)
    }
  }

  /// Reads a string attribute.
  public func string(_ name: String) throws -> String {
    if case .string(let v) = try value(name) { return v }
    throw try mismatch(name, expected: "a string")
  }

  /// Reads a scalar integer attribute.
  public func int64(_ name: String) throws -> Int64 {
    if case .int64(let v) = try value(name) { return v }
    throw try mismatch(name, expected: "a scalar integer")
  }

  /// Reads a scalar floating-point attribute.
  public func double(_ name: String) throws -> Double {
    if case .double(let v) = try value(name) { return v }
    throw try mismatch(name, expected: "a scalar float")
  }

  /// Reads an integer array attribute (a scalar integer reads as a one-element array).
  public func int64Array(_ name: String) throws -> [Int64] {
    switch try value(name) {
    case .int64Array(let v): return v
    case .int64(let v): return [v]
    default: throw try mismatch(name, expected: "an integer array")
    }
  }

  /// Reads a float array attribute (a scalar float reads as a one-element array).
  public func doubleArray(_ name: String) throws -> [Double] {
    switch try value(name) {
    case .doubleArray(let v): return v
    case .double(let v): return [v]
    default: throw try mismatch(name, expected: "a float array")
    }
  }

  // MARK: Internals

  private func context(_ operation: String, _ name: String?) -> H5Context {
    H5Context(operation: operation, path: file.path,
              object: name.map { "\(objectPath)@\($0)" } ?? objectPath)
  }

  /// Opens the object the attributes belong to. Call with the library lock held.
  private func openObject(_ context: H5Context) throws -> H5Temporary {
    let fileID = try file.openID(context)
    guard try H5Paths.kind(of: objectPath, in: fileID) != nil else {
      throw context.error("the object \(objectPath) does not exist", kind: .notFound)
    }
    return H5Temporary(try context.checkID(H5Oopen(fileID, objectPath, pgm_h5p_default()),
                                           "cannot open the object"), H5Oclose)
  }

  private func tooLarge(_ context: H5Context) -> H5Error {
    context.error("attributes are limited to \(Self.maxBytes) bytes; store a dataset instead",
                  kind: .invalidArgument)
  }

  private func mismatch(_ name: String, expected: String) throws -> H5Error {
    let found: String
    switch try value(name) {
    case .string: found = "a string"
    case .int64: found = "a scalar integer"
    case .double: found = "a scalar float"
    case .int64Array: found = "an integer array"
    case .doubleArray: found = "a float array"
    }
    return context("read attribute", name).error("the attribute holds \(found), not \(expected)",
                                                 kind: .typeMismatch)
  }
}

/// Converts attribute values to and from HDF5. Call with the library lock held.
enum H5AttributeCodec {
  static func storedType(for value: H5AttributeValue, _ context: H5Context) throws -> H5Temporary {
    switch value {
    case .string:
      let type = H5Temporary(try context.checkID(H5Tcopy(pgm_h5t_c_s1()), "cannot copy a type"),
                             H5Tclose)
      try context.check(H5Tset_size(type.id, pgm_h5t_variable()), "cannot make a string type")
      try context.check(H5Tset_cset(type.id, H5T_CSET_UTF8), "cannot set UTF-8")
      try context.check(H5Tset_strpad(type.id, H5T_STR_NULLTERM), "cannot set the padding")
      return type
    case .int64, .int64Array:
      return H5Temporary(try context.checkID(H5Tcopy(pgm_h5t_native_int64()), "cannot copy a type"),
                         H5Tclose)
    case .double, .doubleArray:
      return H5Temporary(try context.checkID(H5Tcopy(pgm_h5t_native_double()), "cannot copy a type"),
                         H5Tclose)
    }
  }

  static func dataspace(for value: H5AttributeValue, _ context: H5Context) throws -> H5Temporary {
    let count: Int
    switch value {
    case .string, .int64, .double:
      return H5Temporary(try context.checkID(H5Screate(H5S_SCALAR), "cannot create a dataspace"),
                         H5Sclose)
    case .int64Array(let v): count = v.count
    case .doubleArray(let v): count = v.count
    }
    var dims = [hsize_t(count)]
    return H5Temporary(try context.checkID(H5Screate_simple(1, &dims, nil),
                                           "cannot create a dataspace"), H5Sclose)
  }

  /// Whether an existing attribute can be overwritten in place by a value of `type` and `space`.
  static func sameLayout(_ attribute: hid_t, type: hid_t, space: hid_t) -> Bool {
    let oldType = H5Aget_type(attribute)
    let oldSpace = H5Aget_space(attribute)
    defer {
      if oldType >= 0 { H5Tclose(oldType) }
      if oldSpace >= 0 { H5Sclose(oldSpace) }
    }
    guard oldType >= 0, oldSpace >= 0 else { return false }
    return H5Tequal(oldType, type) > 0 && H5Sextent_equal(oldSpace, space) > 0
  }

  static func write(_ value: H5AttributeValue, to attribute: hid_t, _ context: H5Context) throws {
    let status: herr_t
    switch value {
    case .string(let s):
      let type = try storedType(for: value, context)
      status = s.withCString { pointer in
        var cString: UnsafePointer<CChar>? = pointer
        return H5Awrite(attribute, type.id, &cString)
      }
    case .int64(var v): status = H5Awrite(attribute, pgm_h5t_native_int64(), &v)
    case .double(var v): status = H5Awrite(attribute, pgm_h5t_native_double(), &v)
    case .int64Array(let v):
      status = v.withUnsafeBufferPointer { H5Awrite(attribute, pgm_h5t_native_int64(), $0.baseAddress) }
    case .doubleArray(let v):
      status = v.withUnsafeBufferPointer { H5Awrite(attribute, pgm_h5t_native_double(), $0.baseAddress) }
    }
    try context.check(status, "cannot write the attribute")
  }

  static func read(_ attribute: hid_t, _ context: H5Context) throws -> H5AttributeValue {
    let type = H5Temporary(try context.checkID(H5Aget_type(attribute), "cannot get the type"),
                           H5Tclose)
    let space = H5Temporary(try context.checkID(H5Aget_space(attribute), "cannot get the space"),
                            H5Sclose)
    let rank = try context.check(H5Sget_simple_extent_ndims(space.id), "cannot get the rank")
    let points = H5Sget_simple_extent_npoints(space.id)
    guard points >= 0 else { throw context.error("cannot count the elements", kind: .library, readStack: true) }
    let count = Int(points)
    let isScalar = rank == 0
    switch H5Tget_class(type.id) {
    case H5T_STRING:
      guard isScalar || count == 1 else {
        throw context.error("string arrays are not supported", kind: .typeMismatch)
      }
      return .string(try readString(attribute, type: type.id, context))
    case H5T_INTEGER:
      var values = [Int64](repeating: 0, count: count)
      try context.check(H5Aread(attribute, pgm_h5t_native_int64(), &values), "cannot read the attribute")
      return isScalar ? .int64(values[0]) : .int64Array(values)
    case H5T_FLOAT:
      var values = [Double](repeating: 0, count: count)
      try context.check(H5Aread(attribute, pgm_h5t_native_double(), &values), "cannot read the attribute")
      return isScalar ? .double(values[0]) : .doubleArray(values)
    default:
      throw context.error("the attribute holds \(H5ElementType.describe(type.id)) values, which are "
                            + "not supported", kind: .typeMismatch)
    }
  }

  private static func readString(_ attribute: hid_t, type: hid_t, _ context: H5Context) throws
    -> String
  {
    let memoryType = H5Temporary(try context.checkID(H5Tcopy(type), "cannot copy the type"), H5Tclose)
    if H5Tis_variable_str(type) > 0 {
      var pointer: UnsafeMutablePointer<CChar>?
      try context.check(H5Aread(attribute, memoryType.id, &pointer), "cannot read the string")
      defer { if let pointer { H5free_memory(pointer) } }
      return pointer.map { String(cString: $0) } ?? ""
    }
    let size = H5Tget_size(type)
    var bytes = [CChar](repeating: 0, count: size + 1)  // + 1: a NUL even for null-padded strings
    try context.check(H5Aread(attribute, memoryType.id, &bytes), "cannot read the string")
    return String(cString: bytes)
  }
}
