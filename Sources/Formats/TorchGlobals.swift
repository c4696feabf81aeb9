// The whitelist: the few Python callables whose effect this reader reproduces as data. Anything
// else a pickle calls becomes an inert `object` placeholder; nothing is ever executed.

enum TorchGlobals {
  typealias Problem = TorchCheckpointError.PickleProblem
  typealias Pairs = [(key: PickleNode, value: PickleNode)]

  /// The node for `GLOBAL module name`, with Python 2 module names mapped to Python 3 ones as
  /// CPython's unpickler does.
  static func global(module: String, name: String) -> PickleNode.Kind {
    let renamed = ["__builtin__": "builtins", "copy_reg": "copyreg"][module] ?? module
    return .global(module: renamed, name: name)
  }

  /// Applies `callee` to `args` (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ). `cost` accumulates work
  /// proportional to data copied, for the caller's budget.
  static func call(_ callee: PickleNode, _ args: [PickleNode], kwargs: Pairs, limits: PickleLimits,
                   cost: inout Int) throws -> PickleNode.Kind {
    guard case .global(let module, let name) = callee.kind else {
      // Calling the result of an earlier call: keep everything, interpret nothing.
      return .object(PickleNode.ObjectBox(className: "<call>", args: [callee] + args, kwargs: kwargs))
    }
    func placeholder() -> PickleNode.Kind {
      .object(PickleNode.ObjectBox(className: "\(module).\(name)", args: args, kwargs: kwargs))
    }
    switch (module, name) {
    case ("collections", "OrderedDict"), ("builtins", "dict"):
      guard kwargs.isEmpty else { return placeholder() }
      return dictionary(from: args, ordered: name == "OrderedDict", cost: &cost) ?? placeholder()

    case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
      return .tensor(try rebuildTensor(args, limits: limits))

    case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
      // Parameter(data, requires_grad, backward_hooks[, state]): the data is what matters.
      guard let data = args.first, case .tensor(let ref) = data.kind else {
        throw Problem.invalidTensor("\(name) expects a tensor as its first argument")
      }
      let requiresGrad = args.count > 1 ? (args[1].int.map { $0 != 0 } ?? ref.requiresGrad) : ref.requiresGrad
      return .tensor(ref.with(requiresGrad: requiresGrad))

    case ("torch._tensor", "_rebuild_from_type_v2"):
      // (func, type, args, state): a tensor subclass rebuilt by func(*args); type and Python
      // state are dropped. Only whitelisted rebuild functions are followed, one level deep.
      guard args.count >= 3, case .global(let innerModule, let innerName) = args[0].kind,
            innerModule == "torch._utils", let innerArgs = args[2].sequence else {
        return placeholder()
      }
      let inner = PickleNode(.global(module: innerModule, name: innerName))
      return try call(inner, innerArgs, kwargs: [], limits: limits, cost: &cost)

    case ("builtins", "set"), ("builtins", "frozenset"):
      // Protocols < 4 pickle set(list) with REDUCE; 4+ use EMPTY_SET/ADDITEMS or FROZENSET.
      // Both end as a placeholder whose listItems are the elements.
      guard kwargs.isEmpty, args.count <= 1 else { return placeholder() }
      guard let items = args.isEmpty ? [] : args[0].sequence else { return placeholder() }
      cost += items.count
      return .object(PickleNode.ObjectBox(className: "builtins.\(name)", listItems: items))

    case ("builtins", "bytearray"):
      // bytearray(bytes) as protocols 2–4 write it; protocol 5 uses BYTEARRAY8.
      if args.isEmpty { return .bytes([]) }
      guard args.count == 1, kwargs.isEmpty, case .bytes(let bytes) = args[0].kind else { return placeholder() }
      return .bytes(bytes)

    case ("torch", "Size"):
      guard args.count == 1, let dims = args[0].sequence else { return placeholder() }
      cost += dims.count
      return .tuple(dims)

    case ("_codecs", "encode"):
      // Protocol 2 pickles Python 3 bytes as _codecs.encode(text, 'latin1').
      guard args.count == 2, let text = args[0].string, let encoding = args[1].string else { return placeholder() }
      cost += text.utf8.count
      switch encoding.lowercased() {
      case "latin1", "latin-1", "iso-8859-1":
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
          guard scalar.value < 256 else {
            throw Problem.invalidArgument(opcode: "_codecs.encode", "character U+\(String(scalar.value, radix: 16)) is not Latin-1")
          }
          bytes.append(UInt8(scalar.value))
        }
        return .bytes(bytes)
      case "utf-8", "utf8":
        return .bytes(Array(text.utf8))
      default:
        return placeholder()
      }

    default:
      return placeholder()
    }
  }

  /// `dict()` / `OrderedDict()` with no argument, a dict, or a sequence of pairs.
  private static func dictionary(from args: [PickleNode], ordered: Bool, cost: inout Int) -> PickleNode.Kind? {
    if args.isEmpty { return .dict(PickleNode.DictBox(isOrdered: ordered)) }
    guard args.count == 1 else { return nil }
    if case .dict(let source) = args[0].kind {
      cost += source.entries.count
      return .dict(PickleNode.DictBox(entries: source.entries, isOrdered: ordered))
    }
    guard let items = args[0].sequence else { return nil }
    cost += items.count
    var entries: Pairs = []
    for item in items {
      guard let pair = item.sequence, pair.count == 2 else { return nil }
      entries.append((pair[0], pair[1]))
    }
    return .dict(PickleNode.DictBox(entries: entries, isOrdered: ordered))
  }

  /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[,
  /// metadata])` and the older `_rebuild_tensor(storage, storage_offset, size, stride)`.
  private static func rebuildTensor(_ args: [PickleNode], limits: PickleLimits) throws -> TorchTensorRef {
    guard args.count >= 4 else { throw Problem.invalidTensor("tensor rebuild takes at least 4 arguments, got \(args.count)") }
    guard case .storage(let storage) = args[0].kind else {
      throw Problem.invalidTensor("first rebuild argument is a \(args[0].typeName), not a storage")
    }
    guard let offset64 = args[1].int, offset64 >= 0, let offset = Int(exactly: offset64) else {
      throw Problem.invalidTensor("storage offset must be a non-negative integer")
    }
    func dimensions(_ node: PickleNode, _ what: String) throws -> [Int] {
      guard let items = node.sequence else { throw Problem.invalidTensor("\(what) is a \(node.typeName), not a tuple") }
      guard items.count <= limits.maxTensorRank else {
        throw Problem.invalidTensor("\(items.count) dimensions exceed the limit of \(limits.maxTensorRank)")
      }
      return try items.map {
        guard let n = $0.int, n >= 0, let value = Int(exactly: n) else {
          throw Problem.invalidTensor("\(what) entries must be non-negative integers")
        }
        return value
      }
    }
    let shape = try dimensions(args[2], "size")
    let strides = try dimensions(args[3], "stride")
    guard shape.count == strides.count else {
      throw Problem.invalidTensor("size has \(shape.count) dimensions but stride has \(strides.count)")
    }
    guard let count = TensorData.elementCount(of: shape) else {
      throw Problem.invalidTensor("element count of shape \(shape) overflows")
    }
    // The view must lie inside the storage the pickle declares (torch checks the same).
    if count > 0 {
      guard let last = TensorView.lastElementIndex(shape: shape, strides: strides, offset: offset),
            last < storage.elementCount else {
        throw Problem.invalidTensor("view (shape \(shape), strides \(strides), offset \(offset)) reaches past "
          + "the \(storage.elementCount) elements of storage \"\(storage.key)\"")
      }
    }
    let requiresGrad = args.count > 4 ? (args[4].int.map { $0 != 0 } ?? false) : false
    return TorchTensorRef(dtype: storage.dtype, shape: shape, strides: strides, storageOffset: offset,
                          storageKey: storage.key, storageLocation: storage.location,
                          storageElementCount: storage.elementCount, requiresGrad: requiresGrad)
  }

  /// BINPERSID: torch's persistent id `('storage', storage_type, key, location, numel)`.
  static func storage(from pid: PickleNode) throws -> PickleNode.Kind {
    guard let parts = pid.sequence, parts.count == 5, parts[0].string == "storage" else {
      throw Problem.invalidArgument(opcode: "BINPERSID", "persistent id is not ('storage', type, key, location, numel)")
    }
    guard case .global(let module, let name) = parts[1].kind, module == "torch" || module.hasPrefix("torch.") else {
      throw Problem.unsupportedDType(parts[1].typeName)
    }
    guard let dtype = DType(torchName: name) else { throw Problem.unsupportedDType("\(module).\(name)") }
    let key: String
    switch parts[2].kind {
    case .string(let s): key = s
    case .int(let n): key = String(n)
    default: throw Problem.invalidArgument(opcode: "BINPERSID", "storage key is a \(parts[2].typeName)")
    }
    guard let location = parts[3].string else {
      throw Problem.invalidArgument(opcode: "BINPERSID", "storage location is a \(parts[3].typeName)")
    }
    guard let numel = parts[4].int, numel >= 0, let elementCount = Int(exactly: numel) else {
      throw Problem.invalidArgument(opcode: "BINPERSID", "storage size must be a non-negative integer")
    }
    return .storage(PickleNode.StorageInfo(typeName: "\(module).\(name)", dtype: dtype, key: key,
                                           location: location, elementCount: elementCount))
  }
}

extension TorchTensorRef {
  func with(requiresGrad: Bool) -> TorchTensorRef {
    TorchTensorRef(dtype: dtype, shape: shape, strides: strides, storageOffset: storageOffset, storageKey: storageKey,
                   storageLocation: storageLocation, storageElementCount: storageElementCount, requiresGrad: requiresGrad)
  }
}
