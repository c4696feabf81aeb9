import Formats

/// A Python value as the reference's checkpoints contain them, for writing test pickles.
indirect enum PyValue {
  case none
  case bool(Bool)
  case int(Int)
  case float(Double)
  case string(String)
  case list([PyValue])
  case tuple([PyValue])
  case dict([(String, PyValue)])
  case orderedDict([(String, PyValue)])
  case tensor(TensorReference)
  /// An OmegaConf `DictConfig`: the members go into `_content`, scalar members wrapped in
  /// `AnyNode`s with `_val`, as OmegaConf pickles them.
  case omegaConf([(String, PyValue)])
  /// An instance of some other class, with its `__dict__`.
  case object(module: String, name: String, state: [(String, PyValue)])
}

/// Where a pickled tensor's data lies: `archive/data/<storageKey>`, a view at `offset` elements.
struct TensorReference {
  var storageKey: String
  var dtype: DType
  var storageCount: Int
  var offset: Int
  var shape: [Int]

  /// Row-major strides of `shape`.
  var strides: [Int] {
    var out = [Int](repeating: 1, count: shape.count)
    var step = 1
    for i in shape.indices.reversed() { out[i] = step; step *= shape[i] }
    return out
  }
}

/// Writes pickle protocol 2 the way `torch.save` does for the values above (BINUNICODE strings,
/// BININT integers, `_rebuild_tensor_v2` with a persistent storage id, NEWOBJ + BUILD objects).
struct PickleWriter {
  private(set) var bytes: [UInt8] = [0x80, 2]

  static func encode(_ value: PyValue) -> [UInt8] {
    var writer = PickleWriter()
    writer.write(value)
    writer.bytes.append(0x2E)  // STOP
    return writer.bytes
  }

  mutating func write(_ value: PyValue) {
    switch value {
    case .none: bytes.append(0x4E)
    case .bool(let b): bytes.append(b ? 0x88 : 0x89)
    case .int(let n):
      bytes.append(0x4A)
      appendLE(UInt32(bitPattern: Int32(n)))
    case .float(let x):
      bytes.append(0x47)
      withUnsafeBytes(of: x.bitPattern.bigEndian) { bytes += $0 }
    case .string(let s):
      bytes.append(0x58)
      appendLE(UInt32(s.utf8.count))
      bytes += Array(s.utf8)
    case .list(let items):
      bytes.append(0x5D)
      if !items.isEmpty {
        bytes.append(0x28)
        items.forEach { write($0) }
        bytes.append(0x65)  // APPENDS
      }
    case .tuple(let items):
      bytes.append(0x28)
      items.forEach { write($0) }
      bytes.append(0x74)
    case .dict(let members):
      bytes.append(0x7D)
      setItems(members)
    case .orderedDict(let members):
      global("collections", "OrderedDict")
      bytes += [0x29, 0x52]  // EMPTY_TUPLE, REDUCE
      setItems(members)
    case .tensor(let t):
      global("torch._utils", "_rebuild_tensor_v2")
      bytes += [0x28, 0x28]  // MARK (the arguments), MARK (the persistent id)
      write(.string("storage"))
      global("torch", t.dtype.torchStorageName)
      write(.string(t.storageKey)); write(.string("cpu")); write(.int(t.storageCount))
      bytes.append(0x74)  // TUPLE
      bytes.append(0x51)  // BINPERSID
      write(.int(t.offset))
      write(.tuple(t.shape.map { .int($0) }))
      write(.tuple(t.strides.map { .int($0) }))
      write(.bool(false))
      global("collections", "OrderedDict")
      bytes += [0x29, 0x52]
      bytes.append(0x74)
      bytes.append(0x52)
    case .omegaConf(let members):
      let content = members.map { key, value -> (String, PyValue) in
        switch value {
        case .omegaConf, .object: return (key, value)
        default: return (key, .object(module: "omegaconf.nodes", name: "AnyNode", state: [("_val", value), ("_parent", .none)]))
        }
      }
      write(.object(module: "omegaconf.dictconfig", name: "DictConfig",
                    state: [("_parent", .none), ("_content", .dict(content))]))
    case let .object(module, name, state):
      global(module, name)
      bytes += [0x29, 0x81]  // EMPTY_TUPLE, NEWOBJ
      write(.dict(state))
      bytes.append(0x62)  // BUILD
    }
  }

  private mutating func setItems(_ members: [(String, PyValue)]) {
    guard !members.isEmpty else { return }
    bytes.append(0x28)
    for (key, value) in members { write(.string(key)); write(value) }
    bytes.append(0x75)
  }

  private mutating func global(_ module: String, _ name: String) {
    bytes.append(0x63)
    bytes += Array("\(module)\n\(name)\n".utf8)
  }

  private mutating func appendLE(_ v: UInt32) {
    withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
  }
}
