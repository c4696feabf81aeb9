// The object graph the pickle machine builds. Python pickles describe mutable objects that are
// shared through the memo and mutated after creation (APPEND, SETITEMS, BUILD), so while the
// program runs objects are reference-typed nodes; afterwards the graph is copied into the
// `PickleValue` tree with depth, size and cycle checks.

/// One Python object under construction.
final class PickleNode {
  var kind: Kind

  init(_ kind: Kind) { self.kind = kind }

  enum Kind {
    case none
    case bool(Bool)
    case int(Int64)
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list(ListBox)
    case tuple([PickleNode])
    case dict(DictBox)
    case global(module: String, name: String)
    case object(ObjectBox)
    case storage(StorageInfo)
    case tensor(TorchTensorRef)
  }

  // Mutable containers live in boxes so APPEND/SETITEMS/BUILD change them in place; mutating an
  // array stored in an enum payload would copy it each time (quadratic in the item count).

  final class ListBox {
    var items: [PickleNode]
    init(_ items: [PickleNode] = []) { self.items = items }
  }

  final class DictBox {
    var entries: [(key: PickleNode, value: PickleNode)]
    var isOrdered: Bool
    var attributes: PickleNode?
    init(entries: [(key: PickleNode, value: PickleNode)] = [], isOrdered: Bool = false) {
      self.entries = entries
      self.isOrdered = isOrdered
    }
  }

  final class ObjectBox {
    var className: String
    var args: [PickleNode]
    var kwargs: [(key: PickleNode, value: PickleNode)]
    var state: PickleNode?
    var listItems: [PickleNode]
    var dictItems: [(key: PickleNode, value: PickleNode)] = []
    init(className: String, args: [PickleNode] = [], kwargs: [(key: PickleNode, value: PickleNode)] = [],
         listItems: [PickleNode] = []) {
      self.className = className
      self.args = args
      self.kwargs = kwargs
      self.listItems = listItems
    }
  }

  /// A storage named by a persistent id: `('storage', <type>, key, location, numel)`.
  struct StorageInfo {
    var typeName: String
    var dtype: DType
    var key: String
    var location: String
    var elementCount: Int
  }

  /// A short name of the node's type for error messages.
  var typeName: String {
    switch kind {
    case .none: return "None"
    case .bool: return "bool"
    case .int, .bigInt: return "int"
    case .float: return "float"
    case .string: return "str"
    case .bytes: return "bytes"
    case .list: return "list"
    case .tuple: return "tuple"
    case .dict: return "dict"
    case .global(let module, let name): return "global \(module).\(name)"
    case .object(let box): return box.className
    case .storage: return "storage"
    case .tensor: return "tensor"
    }
  }

  var string: String? {
    if case .string(let s) = kind { return s }
    return nil
  }

  var int: Int64? {
    switch kind {
    case .int(let n): return n
    case .bool(let b): return b ? 1 : 0
    default: return nil
    }
  }

  /// Elements of a tuple or list.
  var sequence: [PickleNode]? {
    switch kind {
    case .tuple(let items): return items
    case .list(let box): return box.items
    default: return nil
    }
  }
}

/// Copies the node graph into a `PickleValue` tree.
struct PickleTreeBuilder {
  let limits: PickleLimits
  private var produced = 0
  /// Containers on the path from the root to the node being converted, to detect cycles.
  private var enclosing = Set<ObjectIdentifier>()

  init(limits: PickleLimits) { self.limits = limits }

  mutating func value(of node: PickleNode) throws -> PickleValue {
    try convert(node, depth: 0)
  }

  private mutating func convert(_ node: PickleNode, depth: Int) throws -> PickleValue {
    produced += 1
    guard produced <= limits.maxValues else {
      throw TorchCheckpointError.PickleProblem.limitExceeded("more than \(limits.maxValues) values (shared objects count once per use)")
    }
    switch node.kind {
    case .none: return .none
    case .bool(let b): return .bool(b)
    case .int(let n): return .int(n)
    case .bigInt(let bytes): return .bigInt(bytes)
    case .float(let x): return .float(x)
    case .string(let s): return .string(s)
    case .bytes(let b): return .bytes(b)
    case .global(let module, let name): return .global("\(module).\(name)")
    case .tensor(let ref): return .tensor(ref)
    case .storage(let info):
      return .object(PickleObject(className: info.typeName,
                                  args: [.string(info.key), .string(info.location), .int(Int64(info.elementCount))]))
    case .list, .tuple, .dict, .object:
      break
    }
    // Containers: cut cycles, bound depth.
    let id = ObjectIdentifier(node)
    if enclosing.contains(id) { return .cycle }
    guard depth < limits.maxDepth else {
      throw TorchCheckpointError.PickleProblem.limitExceeded("nesting deeper than \(limits.maxDepth) levels")
    }
    enclosing.insert(id)
    defer { enclosing.remove(id) }
    let next = depth + 1
    switch node.kind {
    case .list(let box): return .list(try box.items.map { try convert($0, depth: next) })
    case .tuple(let items): return .tuple(try items.map { try convert($0, depth: next) })
    case .dict(let parts):
      return .dict(PickleDict(entries: try entries(parts.entries, depth: next), isOrdered: parts.isOrdered,
                              attributes: try parts.attributes.map { try convert($0, depth: next) }))
    case .object(let parts):
      return .object(PickleObject(
        className: parts.className,
        args: try parts.args.map { try convert($0, depth: next) },
        kwargs: try entries(parts.kwargs, depth: next),
        state: try parts.state.map { try convert($0, depth: next) },
        listItems: try parts.listItems.map { try convert($0, depth: next) },
        dictItems: try entries(parts.dictItems, depth: next)))
    default:
      return .none  // unreachable: scalars returned above
    }
  }

  private mutating func entries(_ pairs: [(key: PickleNode, value: PickleNode)], depth: Int) throws -> [PickleDict.Entry] {
    try pairs.map { PickleDict.Entry(key: try convert($0.key, depth: depth), value: try convert($0.value, depth: depth)) }
  }
}
