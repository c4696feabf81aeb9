import Foundation
@testable import Formats

/// Builds ZIP images with stored entries the way torch.save lays them out, optionally with data
/// descriptors and ZIP64 records (the 64-bit fields are forced even for small files, so the ZIP64
/// paths are exercised without writing gigabytes).
struct TestZip {
  struct Entry {
    var name: String
    var data: [UInt8]
    /// Written into the headers; the data is stored as given either way.
    var method: UInt16 = 0
  }

  static func build(_ entries: [Entry], zip64: Bool = false, dataDescriptor: Bool = false) -> [UInt8] {
    var out: [UInt8] = []
    var records: [Record] = []
    for entry in entries {
      let record = Record(name: entry.name, size: entry.data.count, crc: CRC32.checksum(entry.data),
                          offset: out.count, method: entry.method)
      out += localHeader(record, zip64: zip64, dataDescriptor: dataDescriptor)
      out += entry.data
      if dataDescriptor { out += descriptor(record, zip64: zip64) }
      records.append(record)
    }
    out += directory(records, at: out.count, zip64: zip64, dataDescriptor: dataDescriptor)
    return out
  }

  /// What the central directory says about one entry.
  struct Record {
    var name: String
    var size: Int
    var crc: UInt32
    var offset: Int
    var method: UInt16 = 0
  }

  static func flags(_ dataDescriptor: Bool) -> UInt16 { 0x0800 | (dataDescriptor ? 0x0008 : 0) }

  /// A local header; with a data descriptor the sizes and CRC are zero, as torch writes them.
  static func localHeader(_ record: Record, zip64: Bool, dataDescriptor: Bool) -> [UInt8] {
    var out: [UInt8] = []
    let name = Array(record.name.utf8)
    out.appendLE(UInt32(0x0403_4B50))
    out.appendLE(UInt16(zip64 ? 45 : 20))
    out.appendLE(flags(dataDescriptor))
    out.appendLE(record.method)
    out.appendLE(UInt32(0))  // time and date
    out.appendLE(dataDescriptor ? 0 : record.crc)
    out.appendLE(dataDescriptor ? 0 : UInt32(truncatingIfNeeded: record.size))
    out.appendLE(dataDescriptor ? 0 : UInt32(truncatingIfNeeded: record.size))
    out.appendLE(UInt16(name.count))
    out.appendLE(UInt16(4))  // one empty extra field, like torch's "FB" alignment padding
    out += name
    out += [0x46, 0x42, 0, 0]
    return out
  }

  static func descriptor(_ record: Record, zip64: Bool) -> [UInt8] {
    var out: [UInt8] = []
    out.appendLE(UInt32(0x0807_4B50))
    out.appendLE(record.crc)
    if zip64 { out.appendLE(UInt64(record.size)); out.appendLE(UInt64(record.size)) } else {
      out.appendLE(UInt32(record.size)); out.appendLE(UInt32(record.size))
    }
    return out
  }

  /// Central directory and end records for entries, the directory starting at file offset `at`.
  /// With `zip64` every size and offset goes into ZIP64 fields.
  static func directory(_ records: [Record], at centralOffset: Int, zip64: Bool, dataDescriptor: Bool) -> [UInt8] {
    var central: [UInt8] = []
    for record in records {
      let name = Array(record.name.utf8)
      central.appendLE(UInt32(0x0201_4B50))
      central.appendLE(UInt16(45))
      central.appendLE(UInt16(zip64 ? 45 : 20))
      central.appendLE(flags(dataDescriptor))
      central.appendLE(record.method)
      central.appendLE(UInt32(0))
      central.appendLE(record.crc)
      central.appendLE(zip64 ? UInt32.max : UInt32(record.size))
      central.appendLE(zip64 ? UInt32.max : UInt32(record.size))
      central.appendLE(UInt16(name.count))
      central.appendLE(UInt16(zip64 ? 28 : 0))
      central.appendLE(UInt16(0))  // comment
      central.appendLE(UInt16(0))  // disk
      central.appendLE(UInt16(0))  // internal attributes
      central.appendLE(UInt32(0))  // external attributes
      central.appendLE(zip64 ? UInt32.max : UInt32(record.offset))
      central += name
      if zip64 {
        central.appendLE(UInt16(1))
        central.appendLE(UInt16(24))
        central.appendLE(UInt64(record.size))
        central.appendLE(UInt64(record.size))
        central.appendLE(UInt64(record.offset))
      }
    }
    var out = central
    if zip64 {
      let recordOffset = centralOffset + out.count
      out.appendLE(UInt32(0x0606_4B50))
      out.appendLE(UInt64(44))
      out.appendLE(UInt16(45))
      out.appendLE(UInt16(45))
      out.appendLE(UInt32(0))
      out.appendLE(UInt32(0))
      out.appendLE(UInt64(records.count))
      out.appendLE(UInt64(records.count))
      out.appendLE(UInt64(central.count))
      out.appendLE(UInt64(centralOffset))
      out.appendLE(UInt32(0x0706_4B50))
      out.appendLE(UInt32(0))
      out.appendLE(UInt64(recordOffset))
      out.appendLE(UInt32(1))
    }
    out.appendLE(UInt32(0x0605_4B50))
    out.appendLE(UInt16(0))
    out.appendLE(UInt16(0))
    out.appendLE(zip64 ? UInt16.max : UInt16(records.count))
    out.appendLE(zip64 ? UInt16.max : UInt16(records.count))
    out.appendLE(zip64 ? UInt32.max : UInt32(central.count))
    out.appendLE(zip64 ? UInt32.max : UInt32(centralOffset))
    out.appendLE(UInt16(0))
    return out
  }

  /// Every entry of a zip image (read with the module's own reader).
  static func entries(of image: [UInt8]) throws -> [Entry] {
    let archive = try ZipArchive(source: MemoryByteSource(bytes: image, name: "fixture"))
    return try archive.entries.map { Entry(name: $0.name, data: try archive.read($0, count: $0.size)) }
  }
}

/// Writes pickle opcodes by name, for hand-made programs.
struct PickleAssembler {
  private(set) var bytes: [UInt8]

  init(protocol version: UInt8 = 2) { bytes = [0x80, version] }

  mutating func raw(_ b: UInt8...) { bytes += b }
  mutating func mark() { raw(0x28) }
  mutating func stop() { raw(0x2E) }
  mutating func none() { raw(0x4E) }
  mutating func bool(_ b: Bool) { raw(b ? 0x88 : 0x89) }
  mutating func tuple() { raw(0x74) }
  mutating func emptyTuple() { raw(0x29) }
  mutating func emptyDict() { raw(0x7D) }
  mutating func emptyList() { raw(0x5D) }
  mutating func setItem() { raw(0x73) }
  mutating func setItems() { raw(0x75) }
  mutating func append() { raw(0x61) }
  mutating func reduce() { raw(0x52) }
  mutating func build() { raw(0x62) }
  mutating func binpersid() { raw(0x51) }
  mutating func put(_ index: UInt8) { raw(0x71, index) }
  mutating func get(_ index: UInt8) { raw(0x68, index) }

  mutating func int(_ n: Int32) {
    raw(0x4A)
    bytes.appendLE(n)
  }

  mutating func string(_ s: String) {
    raw(0x58)
    bytes.appendLE(UInt32(s.utf8.count))
    bytes += Array(s.utf8)
  }

  mutating func global(_ module: String, _ name: String) {
    raw(0x63)
    bytes += Array("\(module)\n\(name)\n".utf8)
  }

  mutating func intTuple(_ values: [Int]) {
    mark()
    for v in values { int(Int32(v)) }
    tuple()
  }

  /// `torch._utils._rebuild_tensor_v2(<storage>, offset, size, stride, False, OrderedDict())`.
  mutating func tensor(storage type: String = "FloatStorage", key: String, count: Int, offset: Int,
                       shape: [Int], strides: [Int], module: String = "torch") {
    global("torch._utils", "_rebuild_tensor_v2")
    mark()
    mark(); string("storage"); global(module, type); string(key); string("cpu"); int(Int32(count)); tuple()
    binpersid()
    int(Int32(offset))
    intTuple(shape)
    intTuple(strides)
    bool(false)
    global("collections", "OrderedDict"); emptyTuple(); reduce()
    tuple()
    reduce()
  }
}

/// A torch.save-style archive around a pickle and storages: `archive/data.pkl`,
/// `archive/data/<key>`, `archive/byteorder`, `archive/version`.
func checkpointImage(pickle: [UInt8], storages: [(key: String, bytes: [UInt8])], zip64: Bool = false,
                     dataDescriptor: Bool = true) -> [UInt8] {
  var entries = [TestZip.Entry(name: "archive/data.pkl", data: pickle),
                 TestZip.Entry(name: "archive/byteorder", data: Array("little".utf8))]
  entries += storages.map { TestZip.Entry(name: "archive/data/\($0.key)", data: $0.bytes) }
  entries.append(TestZip.Entry(name: "archive/version", data: Array("3\n".utf8)))
  return TestZip.build(entries, zip64: zip64, dataDescriptor: dataDescriptor)
}

/// Floats as little-endian F32 bytes.
func f32Bytes(_ values: [Float]) -> [UInt8] {
  var out: [UInt8] = []
  for v in values { out.appendLE(v.bitPattern) }
  return out
}

/// Every tensor reference anywhere inside a value.
func allTensors(in value: PickleValue) -> [TorchTensorRef] {
  var found: [TorchTensorRef] = []
  func walk(_ v: PickleValue) {
    switch v {
    case .tensor(let t): found.append(t)
    case .list(let items), .tuple(let items): items.forEach(walk)
    case .dict(let d):
      d.entries.forEach { walk($0.key); walk($0.value) }
      d.attributes.map(walk)
    case .object(let o):
      o.args.forEach(walk)
      o.kwargs.forEach { walk($0.key); walk($0.value) }
      o.state.map(walk)
      o.listItems.forEach(walk)
      o.dictItems.forEach { walk($0.key); walk($0.value) }
    default: break
    }
  }
  walk(value)
  return found
}
