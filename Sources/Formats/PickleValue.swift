/// A value decoded from a pickle without running any Python code.
///
/// Built-in Python types map to their own cases. `torch` tensors become lazy `tensor`
/// references. Instances of any other class — OmegaConf configs, enums, tokenizers, paths — are
/// inert `object` placeholders that keep the class name and the arguments, state and items the
/// pickle gave them, so they stay inspectable.
///
/// Python object graphs may be shared and cyclic; values are trees. A shared object appears as a
/// copy at each place it is referenced, and a reference back to an enclosing container is
/// `cycle`.
public indirect enum PickleValue: Equatable, Sendable {
  case none
  case bool(Bool)
  case int(Int64)
  /// An integer too wide for Int64: its little-endian two's-complement bytes.
  case bigInt([UInt8])
  case float(Double)
  case string(String)
  case bytes([UInt8])
  case list([PickleValue])
  case tuple([PickleValue])
  /// `dict` or `collections.OrderedDict`.
  case dict(PickleDict)
  case tensor(TorchTensorRef)
  /// A class or function referenced without being called, as `"module.qualname"`.
  case global(String)
  case object(PickleObject)
  /// A reference back to a container that encloses this position.
  case cycle
}

/// A dictionary's entries in insertion order. Keys are any values. A pickle written by Python
/// never repeats a key; if a crafted one does, both entries are kept and lookups see the last.
public struct PickleDict: Equatable, Sendable {
  /// One key–value pair.
  public struct Entry: Equatable, Sendable {
    public var key: PickleValue
    public var value: PickleValue
  }

  /// The pairs in insertion order.
  public var entries: [Entry]
  /// True for `collections.OrderedDict` (torch state dicts), false for a plain `dict`.
  public var isOrdered: Bool
  /// Attributes a BUILD set on the dict object; torch stores a state dict's `_metadata` here.
  public var attributes: PickleValue?

  /// A dict value (for tests and for building expected values).
  public init(entries: [Entry] = [], isOrdered: Bool = false, attributes: PickleValue? = nil) {
    self.entries = entries
    self.isOrdered = isOrdered
    self.attributes = attributes
  }

  /// The value stored under a string key.
  public subscript(key: String) -> PickleValue? {
    entries.last(where: { $0.key == .string(key) })?.value
  }

  /// The keys that are strings, in order.
  public var stringKeys: [String] { entries.compactMap { $0.key.stringValue } }
}

/// An instance of a class this reader does not construct, kept as data.
///
/// The fields mirror what a pickle can record about an object: constructor arguments (REDUCE,
/// NEWOBJ), keyword arguments (NEWOBJ_EX), state (BUILD, normally the instance `__dict__`), and
/// items appended or set on it (APPENDS, SETITEMS).
public struct PickleObject: Equatable, Sendable {
  /// `"module.qualname"`, e.g. `"omegaconf.dictconfig.DictConfig"`; `"<call>"` when the pickle
  /// called something that is not a global (the callee is then the first argument).
  public var className: String
  /// Constructor arguments.
  public var args: [PickleValue]
  /// Keyword arguments (NEWOBJ_EX only).
  public var kwargs: [PickleDict.Entry]
  /// What BUILD gave the object, normally its `__dict__`.
  public var state: PickleValue?
  /// Items appended (APPEND/APPENDS, set elements).
  public var listItems: [PickleValue]
  /// Items set by key (SETITEM/SETITEMS).
  public var dictItems: [PickleDict.Entry]

  /// A placeholder value (for tests and for building expected values).
  public init(className: String, args: [PickleValue] = [], kwargs: [PickleDict.Entry] = [],
              state: PickleValue? = nil, listItems: [PickleValue] = [], dictItems: [PickleDict.Entry] = []) {
    self.className = className
    self.args = args
    self.kwargs = kwargs
    self.state = state
    self.listItems = listItems
    self.dictItems = dictItems
  }

  /// An attribute or item by name: from the state dict (or the two dicts of a
  /// `(dict, slots)` state), then from items set on the object.
  public subscript(key: String) -> PickleValue? {
    switch state {
    case .dict(let d)?:
      if let v = d[key] { return v }
    case .tuple(let parts)? where parts.count == 2:
      for case .dict(let d) in parts { if let v = d[key] { return v } }
    default: break
    }
    return dictItems.last(where: { $0.key == .string(key) })?.value
  }
}

// MARK: - Convenience accessors

extension PickleValue {
  /// Dictionary entry (dict/OrderedDict) or object attribute by string key.
  public subscript(key: String) -> PickleValue? {
    switch self {
    case .dict(let d): return d[key]
    case .object(let o): return o[key]
    default: return nil
    }
  }

  /// Element of a list or tuple (or an object's appended items); nil when out of range.
  public subscript(index: Int) -> PickleValue? {
    guard let items = elements, items.indices.contains(index) else { return nil }
    return items[index]
  }

  /// The elements of a list or tuple, or the items appended to an object.
  public var elements: [PickleValue]? {
    switch self {
    case .list(let items), .tuple(let items): return items
    case .object(let o): return o.listItems
    default: return nil
    }
  }

  /// The string, if this is one.
  public var stringValue: String? {
    if case .string(let s) = self { return s }
    return nil
  }

  /// An int, or a bool as 0/1 (Python's bool is an int).
  public var intValue: Int64? {
    switch self {
    case .int(let n): return n
    case .bool(let b): return b ? 1 : 0
    default: return nil
    }
  }

  /// A float, or an int converted to Double.
  public var doubleValue: Double? {
    switch self {
    case .float(let x): return x
    case .int(let n): return Double(n)
    default: return nil
    }
  }

  /// The bool, if this is one.
  public var boolValue: Bool? {
    if case .bool(let b) = self { return b }
    return nil
  }

  /// The tensor reference, if this is one.
  public var tensorValue: TorchTensorRef? {
    if case .tensor(let t) = self { return t }
    return nil
  }

  /// The dict, if this is a dict or OrderedDict.
  public var dictValue: PickleDict? {
    if case .dict(let d) = self { return d }
    return nil
  }

  /// The placeholder, if this is an instance of a class the reader does not construct.
  public var objectValue: PickleObject? {
    if case .object(let o) = self { return o }
    return nil
  }

  /// The tensors directly inside a dict (string keys) or a list/tuple (index as name), in order;
  /// other entries are skipped. This is how state dicts and EMA parameter lists are walked.
  public var namedTensors: [(name: String, tensor: TorchTensorRef)] {
    switch self {
    case .dict(let d):
      return d.entries.compactMap { entry in
        guard let name = entry.key.stringValue, let t = entry.value.tensorValue else { return nil }
        return (name, t)
      }
    case .list(let items), .tuple(let items):
      return items.enumerated().compactMap { i, v in v.tensorValue.map { (String(i), $0) } }
    default:
      return []
    }
  }
}

// MARK: - Printing

extension PickleValue: CustomStringConvertible {
  /// A Python-like rendering, abbreviated: long containers show their first items and a count.
  public var description: String {
    var out = ""
    render(into: &out, budget: 8, depth: 0)
    return out
  }

  private func render(into out: inout String, budget: Int, depth: Int) {
    if depth > 6 { out += "…"; return }
    func list(_ items: [PickleValue], _ open: String, _ close: String) {
      out += open
      for (i, item) in items.prefix(budget).enumerated() {
        if i > 0 { out += ", " }
        item.render(into: &out, budget: max(2, budget / 2), depth: depth + 1)
      }
      if items.count > budget { out += ", … (\(items.count) items)" }
      out += close
    }
    func entries(_ items: [PickleDict.Entry]) {
      for (i, entry) in items.prefix(budget).enumerated() {
        if i > 0 { out += ", " }
        entry.key.render(into: &out, budget: 2, depth: depth + 1)
        out += ": "
        entry.value.render(into: &out, budget: max(2, budget / 2), depth: depth + 1)
      }
      if items.count > budget { out += ", … (\(items.count) entries)" }
    }
    switch self {
    case .none: out += "None"
    case .bool(let b): out += b ? "True" : "False"
    case .int(let n): out += String(n)
    case .bigInt(let bytes): out += "<\(bytes.count)-byte int>"
    case .float(let x): out += String(x)
    case .string(let s): out += "'" + (s.count > 80 ? String(s.prefix(80)) + "…" : s) + "'"
    case .bytes(let b): out += "b<\(b.count) bytes>"
    case .list(let items): list(items, "[", "]")
    case .tuple(let items): list(items, "(", items.count == 1 ? ",)" : ")")
    case .dict(let d):
      out += d.isOrdered ? "OrderedDict({" : "{"
      entries(d.entries)
      out += d.isOrdered ? "})" : "}"
    case .tensor(let t): out += t.description
    case .global(let name): out += "<global \(name)>"
    case .object(let o):
      out += o.className + "("
      list(o.args, "", "")
      if let state = o.state {
        out += o.args.isEmpty ? "state=" : ", state="
        state.render(into: &out, budget: budget, depth: depth + 1)
      }
      out += ")"
    case .cycle: out += "<cycle>"
    }
  }
}
