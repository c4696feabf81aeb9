import Foundation
@testable import Formats

/// A `torch.save` zip image: stored (uncompressed) entries `<archive>/data.pkl`,
/// `<archive>/byteorder`, `<archive>/data/<key>` and `<archive>/version`, as torch lays them out.
enum TorchArchive {
  static func image(pickle: [UInt8], storages: [(key: String, bytes: [UInt8])], archive: String = "checkpoint") -> [UInt8] {
    var entries = [(name: "\(archive)/data.pkl", data: pickle), (name: "\(archive)/byteorder", data: Array("little".utf8))]
    entries += storages.map { (name: "\(archive)/data/\($0.key)", data: $0.bytes) }
    entries.append((name: "\(archive)/version", data: Array("3\n".utf8)))
    return zip(entries)
  }

  /// A zip file of stored entries (no compression, no data descriptors, no ZIP64).
  static func zip(_ entries: [(name: String, data: [UInt8])]) -> [UInt8] {
    var out: [UInt8] = []
    var central: [UInt8] = []
    for (name, data) in entries {
      let nameBytes = Array(name.utf8)
      let crc = CRC32.checksum(data)
      let offset = out.count
      out.le(UInt32(0x0403_4B50)); out.le(UInt16(20)); out.le(UInt16(0x0800)); out.le(UInt16(0)); out.le(UInt32(0))
      out.le(crc); out.le(UInt32(data.count)); out.le(UInt32(data.count)); out.le(UInt16(nameBytes.count)); out.le(UInt16(0))
      out += nameBytes
      out += data
      central.le(UInt32(0x0201_4B50)); central.le(UInt16(20)); central.le(UInt16(20)); central.le(UInt16(0x0800))
      central.le(UInt16(0)); central.le(UInt32(0)); central.le(crc); central.le(UInt32(data.count)); central.le(UInt32(data.count))
      central.le(UInt16(nameBytes.count)); central.le(UInt16(0)); central.le(UInt16(0)); central.le(UInt16(0)); central.le(UInt16(0))
      central.le(UInt32(0)); central.le(UInt32(offset))
      central += nameBytes
    }
    let centralOffset = out.count
    out += central
    out.le(UInt32(0x0605_4B50)); out.le(UInt16(0)); out.le(UInt16(0)); out.le(UInt16(entries.count)); out.le(UInt16(entries.count))
    out.le(UInt32(central.count)); out.le(UInt32(centralOffset)); out.le(UInt16(0))
    return out
  }
}

extension Array where Element == UInt8 {
  mutating func le<T: FixedWidthInteger>(_ value: T) {
    Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
  }
}

/// A tensor to put in a test checkpoint: values and the dtype to store them as.
struct TensorSpec {
  var shape: [Int]
  var values: [Float]
  var dtype: DType = .f32
  /// Stored instead of `values` (as F64) when set: values no float32 can hold.
  var wideValues: [Double]?

  /// The stored bytes.
  func data() throws -> TensorData {
    if let wideValues { return try TensorData(doubles: wideValues, shape: shape) }
    if dtype.isFloatingPoint { return try TensorData(floats: values, shape: shape, dtype: dtype) }
    return try TensorData(int64s: values.map { Int64($0) }, shape: shape, dtype: dtype)
  }

  /// What an importer should produce: the stored values, read back as float32.
  func expectedFloats() throws -> [Float] { try data().floats() }
}

/// A Lightning checkpoint laid out like the reference's: `state_dict` (an OrderedDict, one
/// storage per tensor), `ema` (shadow params as views into one shared storage), and
/// `hyper_parameters`, plus the bookkeeping keys Lightning writes.
struct LightningFixture {
  var stateDict: [(name: String, tensor: TensorSpec)]
  /// nil: no `ema` key at all.
  var ema: [TensorSpec]?
  var hyperParameters: PyValue?
  /// Replaces the whole `ema` value when set (e.g. `.none`).
  var emaOverride: PyValue?
  /// Leave out `state_dict`.
  var omitStateDict = false

  func image() throws -> [UInt8] {
    var storages: [(key: String, bytes: [UInt8])] = []
    var stateEntries: [(String, PyValue)] = []
    for (name, spec) in stateDict {
      let key = String(storages.count)
      let data = try spec.data()
      storages.append((key, data.bytes))
      stateEntries.append((name, .tensor(TensorReference(storageKey: key, dtype: spec.dtype, storageCount: spec.values.count,
                                                         offset: 0, shape: spec.shape))))
    }
    var root: [(String, PyValue)] = [("epoch", .int(0)), ("global_step", .int(7)), ("pytorch-lightning_version", .string("2.5.1"))]
    if !omitStateDict { root.append(("state_dict", .orderedDict(stateEntries))) }
    root.append(("optimizer_states", .list([])))
    if let hyperParameters { root.append(("hyper_parameters", hyperParameters)) }
    if let emaOverride {
      root.append(("ema", emaOverride))
    } else if let ema {
      // One shared float32 storage, each shadow param a view at its offset (as the golden file has).
      let key = "ema"
      var shared: [Float] = []
      var views: [PyValue] = []
      for spec in ema {
        views.append(.tensor(TensorReference(storageKey: key, dtype: .f32, storageCount: 0, offset: shared.count, shape: spec.shape)))
        shared += spec.values
      }
      views = views.map {
        guard case .tensor(var t) = $0 else { return $0 }
        t.storageCount = shared.count
        return .tensor(t)
      }
      storages.append((key, try TensorData(floats: shared, shape: [shared.count]).bytes))
      root.append(("ema", .dict([("decay", .float(0.9999)), ("num_updates", .int(7)), ("shadow_params", .list(views))])))
    }
    return TorchArchive.image(pickle: PickleWriter.encode(.dict(root)), storages: storages)
  }

  func write(to url: URL) throws {
    try Data(try image()).write(to: url)
  }
}
