import Foundation

/// A safetensors file opened for reading: the header is parsed and validated once, and each
/// tensor's bytes are read from the file only when asked for.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON (an object mapping tensor
/// names to `{"dtype", "shape", "data_offsets"}`, plus an optional `"__metadata__"` object of
/// strings), then the data section, to which `data_offsets` are relative.
public struct SafeTensorsFile: Sendable {
  /// One tensor's header entry.
  public struct Entry: Equatable, Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range inside the data section.
    public let byteRange: Range<Int>
  }

  /// Headers above this size are rejected as corrupt rather than allocated (the reference
  /// implementation uses the same bound).
  public static let maxHeaderLength = 100_000_000

  /// Entries in header order.
  public let entries: [Entry]
  /// The `__metadata__` block, if the file has one.
  public let metadata: [String: String]?
  /// The path (or label) used in error messages.
  public var fileName: String { source.name }

  let source: any ByteSource
  /// File offset of the data section (8 + header length).
  let dataStart: Int
  private let indexByName: [String: Int]

  /// Opens and validates the header of a file on disk; tensor data stays on disk until read.
  public init(url: URL) throws {
    let source: FileByteSource
    do { source = try FileByteSource(url: url) } catch {
      throw SafeTensorsError(file: url.path, reason: .io(String(describing: error)))
    }
    try self.init(source: source)
  }

  /// Parses a safetensors image held in memory; `name` labels errors.
  public init(bytes: [UInt8], name: String = "<memory>") throws {
    try self.init(source: MemoryByteSource(bytes: bytes, name: name))
  }

  init(source: any ByteSource) throws {
    let file = source.name
    func fail(_ reason: SafeTensorsError.Reason, _ tensor: String? = nil) -> SafeTensorsError {
      SafeTensorsError(file: file, tensor: tensor, reason: reason)
    }
    guard source.size >= 8 else { throw fail(.fileTooShort(size: source.size)) }
    let lengthBytes = try Self.io(file) { try source.read(at: 0, count: 8) }
    let declared = lengthBytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    guard declared <= UInt64(Self.maxHeaderLength) else { throw fail(.headerTooLarge(length: declared)) }
    let headerLength = Int(declared)
    guard headerLength <= source.size - 8 else {
      throw fail(.headerBeyondFile(length: declared, fileSize: source.size))
    }
    let headerBytes = try Self.io(file) { try source.read(at: 8, count: headerLength) }
    guard String(validating: headerBytes, as: UTF8.self) != nil else { throw fail(.headerNotUTF8) }
    let json: JSONValue
    do { json = try JSONParser.parse(headerBytes) } catch { throw fail(.headerNotJSON(String(describing: error))) }
    guard case .object(let members) = json else { throw fail(.headerNotObject) }

    let dataSize = source.size - 8 - headerLength
    var entries: [Entry] = []
    var index: [String: Int] = [:]
    var metadata: [String: String]?
    for (name, value) in members {
      if name == "__metadata__" {
        guard metadata == nil else { throw fail(.duplicateName, name) }
        metadata = try Self.parseMetadata(value, fail: fail)
        continue
      }
      guard index[name] == nil else { throw fail(.duplicateName, name) }
      do {
        let entry = try Self.parseEntry(name: name, value, dataSize: dataSize)
        index[name] = entries.count
        entries.append(entry)
      } catch let reason as SafeTensorsError.Reason {
        throw fail(reason, name)
      }
    }

    // Overlaps: after sorting by start, each non-empty range must begin where the previous ended
    // or later. Gaps are tolerated (they waste space but are harmless).
    let nonEmpty = entries.filter { !$0.byteRange.isEmpty }.sorted {
      ($0.byteRange.lowerBound, $0.byteRange.upperBound) < ($1.byteRange.lowerBound, $1.byteRange.upperBound)
    }
    for (previous, next) in zip(nonEmpty, nonEmpty.dropFirst()) where next.byteRange.lowerBound < previous.byteRange.upperBound {
      throw fail(.overlapping(other: previous.name), next.name)
    }

    self.source = source
    self.dataStart = 8 + headerLength
    self.entries = entries
    self.indexByName = index
    self.metadata = metadata
  }

  /// Tensor names in header order.
  public var names: [String] { entries.map(\.name) }

  /// The header entry for `name`, if present.
  public func entry(_ name: String) -> Entry? {
    indexByName[name].map { entries[$0] }
  }

  /// Reads one tensor's bytes from the file.
  public func read(_ name: String) throws -> TensorData {
    guard let entry = entry(name) else {
      throw SafeTensorsError(file: fileName, tensor: name, reason: .tensorNotFound)
    }
    let bytes = try Self.io(fileName, tensor: name) {
      try source.read(at: dataStart + entry.byteRange.lowerBound, count: entry.byteRange.count)
    }
    return try TensorData(dtype: entry.dtype, shape: entry.shape, bytes: bytes)
  }

  /// Reads every tensor, in header order.
  public func readAll() throws -> [(name: String, tensor: TensorData)] {
    try entries.map { ($0.name, try read($0.name)) }
  }

  /// Throws one `WeightMismatch` listing every name that is missing, unexpected or of the wrong
  /// shape compared with what a network expects.
  public func checkAgainst(expected: [(name: String, shape: [Int])]) throws {
    try WeightMismatch.check(actual: entries.map { ($0.name, $0.shape) }, expected: expected, source: fileName)
  }

  // MARK: - Header parsing

  private static func parseMetadata(_ value: JSONValue,
                                    fail: (SafeTensorsError.Reason, String?) -> SafeTensorsError) throws -> [String: String] {
    guard case .object(let members) = value else {
      throw fail(.invalidMetadata("expected an object, found \(value.typeName)"), nil)
    }
    var metadata: [String: String] = [:]
    for (key, item) in members {
      guard case .string(let text) = item else {
        throw fail(.invalidMetadata("value of \"\(key)\" is \(item.typeName), not a string"), nil)
      }
      guard metadata.updateValue(text, forKey: key) == nil else {
        throw fail(.invalidMetadata("key \"\(key)\" appears twice"), nil)
      }
    }
    return metadata
  }

  /// Validates one tensor entry; throws a bare `Reason` that the caller tags with file and name.
  private static func parseEntry(name: String, _ value: JSONValue, dataSize: Int) throws -> Entry {
    guard case .object(let fields) = value else { throw SafeTensorsError.Reason.entryNotObject }
    func field(_ key: String) throws -> JSONValue {
      guard let found = fields.last(where: { $0.key == key }) else { throw SafeTensorsError.Reason.missingField(key) }
      return found.value
    }
    guard case .string(let dtypeName) = try field("dtype") else {
      throw SafeTensorsError.Reason.invalidField("dtype", "expected a string")
    }
    guard let dtype = DType(safetensorsName: dtypeName) else { throw SafeTensorsError.Reason.unknownDType(dtypeName) }

    guard case .array(let dims) = try field("shape") else {
      throw SafeTensorsError.Reason.invalidField("shape", "expected an array of integers")
    }
    var shape: [Int] = []
    for dim in dims {
      switch dim {
      case .integer(let n) where n >= 0: shape.append(Int(n))
      case .integer(let n): throw SafeTensorsError.Reason.invalidShape("negative dimension \(n)")
      case .hugeInteger(let text): throw SafeTensorsError.Reason.invalidShape("dimension \(text) is too large")
      default: throw SafeTensorsError.Reason.invalidShape("dimension is \(dim.typeName), not an integer")
      }
    }
    guard let count = TensorData.elementCount(of: shape) else {
      throw SafeTensorsError.Reason.invalidShape("element count of \(shape) overflows")
    }
    let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.elementSize)
    guard !overflow else { throw SafeTensorsError.Reason.invalidShape("byte count of \(shape) × \(dtype) overflows") }

    guard case .array(let offsets) = try field("data_offsets"), offsets.count == 2,
          case .integer(let start64) = offsets[0], case .integer(let end64) = offsets[1],
          start64 >= 0, end64 >= 0 else {
      throw SafeTensorsError.Reason.invalidField("data_offsets", "expected two non-negative integers [start, end]")
    }
    let start = Int(start64), end = Int(end64)
    guard start <= end, end <= dataSize else {
      throw SafeTensorsError.Reason.offsetsOutOfRange(start: start, end: end, dataSize: dataSize)
    }
    guard end - start == byteCount else {
      throw SafeTensorsError.Reason.byteSpanMismatch(expected: byteCount, actual: end - start)
    }
    return Entry(name: name, dtype: dtype, shape: shape, byteRange: start..<end)
  }

  private static func io<T>(_ file: String, tensor: String? = nil, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as ByteSourceError {
      throw SafeTensorsError(file: file, tensor: tensor, reason: .io(error.description))
    }
  }
}
