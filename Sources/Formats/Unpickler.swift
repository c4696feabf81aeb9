// A pickle virtual machine for protocols 0–5 that never executes code: GLOBAL only names a
// class or function, and calls (REDUCE, NEWOBJ, ...) are interpreted by `TorchGlobals` for a
// short whitelist and become inert placeholders otherwise.
//
// Resource use is bounded by the input: every opcode consumes at least one byte and creates at
// most one node, lengths are checked against the remaining bytes before allocating, and the few
// operations whose cost is not proportional to their own bytes (copying a shared container,
// encoding a shared string) are charged against a work budget proportional to the input size.

/// Decodes a pickle into a `PickleValue`.
struct Unpickler {
  typealias Problem = TorchCheckpointError.PickleProblem

  /// A decoding failure at a byte offset of the pickle.
  struct Failure: Error {
    let offset: Int
    let problem: Problem
  }

  let limits: PickleLimits
  private let data: [UInt8]
  private var position = 0
  private var opcodeStart = 0
  private var opcodeName = ""
  private var stack: [PickleNode] = []
  private var marks: [Int] = []
  private var memo: [Int: PickleNode] = [:]
  /// Every node created; see `tearDown()`.
  private var created: [PickleNode] = []
  private var work = 0
  private let workLimit: Int

  static func decode(_ data: [UInt8], limits: PickleLimits = PickleLimits()) throws -> PickleValue {
    var machine = Unpickler(data: data, limits: limits)
    defer { machine.tearDown() }
    do {
      let root = try machine.run()
      var builder = PickleTreeBuilder(limits: limits)
      return try builder.value(of: root)
    } catch let problem as Problem {
      throw Failure(offset: machine.opcodeStart, problem: problem)
    }
  }

  private init(data: [UInt8], limits: PickleLimits) {
    self.data = data
    self.limits = limits
    let (scaled, overflow) = data.count.multipliedReportingOverflow(by: 64)
    workLimit = overflow ? Int.max : scaled &+ 1_000_000
  }

  /// Breaks every reference between nodes before they are released. Nodes can form long chains
  /// and cycles; releasing a long chain would recurse once per link in `deinit` and could
  /// overflow the stack, and cycles would leak. With all links cut, each node dies alone.
  private mutating func tearDown() {
    for node in created { node.kind = .none }
    stack.removeAll()
    memo.removeAll()
    created.removeAll()
  }

  // MARK: - Main loop

  private mutating func run() throws -> PickleNode {
    while position < data.count {
      opcodeStart = position
      let opcode = data[position]
      position += 1
      opcodeName = PickleOpcode.name(opcode)
      try charge(1)
      if opcode == PickleOpcode.stop {
        return try pop()
      }
      try execute(opcode)
    }
    opcodeStart = position
    throw Problem.missingStop
  }

  private mutating func execute(_ opcode: UInt8) throws {
    switch opcode {
    // Framing and protocol
    case 0x80:  // PROTO
      let version = Int(try byte())
      guard version <= 5 else { throw Problem.unsupportedProtocol(version) }
    case 0x95:  // FRAME: only a read-ahead hint; check that the frame fits.
      let length = try unsigned(8)
      guard length <= UInt64(data.count - position) else { throw Problem.truncated(opcode: opcodeName) }

    // Stack and marks
    case 0x28:  // MARK
      guard marks.count < limits.maxValues else { throw Problem.limitExceeded("more than \(limits.maxValues) open marks") }
      marks.append(stack.count)
    case 0x30:  // POP (pops a mark when the stack above it is empty, like CPython)
      if let mark = marks.last, mark == stack.count { marks.removeLast() } else { _ = try pop() }
    case 0x31: _ = try popToMark()  // POP_MARK
    case 0x32: try pushExisting(try top())  // DUP

    // Memo
    case 0x70: try store(at: try decimalLine())  // PUT
    case 0x71: try store(at: Int(try byte()))  // BINPUT
    case 0x72: try store(at: Int(try unsigned(4)))  // LONG_BINPUT
    case 0x94: try store(at: memo.count)  // MEMOIZE
    case 0x67: try fetch(try decimalLine())  // GET
    case 0x68: try fetch(Int(try byte()))  // BINGET
    case 0x6A: try fetch(Int(try unsigned(4)))  // LONG_BINGET

    // Constants
    case 0x4E: try push(.none)  // NONE
    case 0x88: try push(.bool(true))  // NEWTRUE
    case 0x89: try push(.bool(false))  // NEWFALSE
    case 0x4B: try push(.int(Int64(try byte())))  // BININT1
    case 0x4D: try push(.int(Int64(try unsigned(2))))  // BININT2
    case 0x4A: try push(.int(Int64(Int32(truncatingIfNeeded: try unsigned(4)))))  // BININT
    case 0x8A: try push(try longValue(Int(try byte())))  // LONG1
    case 0x8B:  // LONG4
      let length = Int32(truncatingIfNeeded: try unsigned(4))
      guard length >= 0 else { throw Problem.invalidArgument(opcode: opcodeName, "negative length \(length)") }
      try push(try longValue(Int(length)))
    case 0x49: try push(try textInt())  // INT
    case 0x4C: try push(try textLong())  // LONG
    case 0x47: try push(.float(Double(bitPattern: try bigEndian8())))  // BINFLOAT
    case 0x46:  // FLOAT
      let text = try textLine()
      guard let value = Double(text) else { throw Problem.invalidArgument(opcode: opcodeName, "not a float: \(text)") }
      try push(.float(value))

    // Strings and bytes
    case 0x8C: try push(.string(try utf8(try take(Int(try byte())))))  // SHORT_BINUNICODE
    case 0x58: try push(.string(try utf8(try take(Int(try unsigned(4))))))  // BINUNICODE
    case 0x8D: try push(.string(try utf8(try take(try length8()))))  // BINUNICODE8
    case 0x56: try push(.string(try rawUnicodeEscape(try line())))  // UNICODE
    case 0x43: try push(.bytes(Array(try take(Int(try byte())))))  // SHORT_BINBYTES
    case 0x42: try push(.bytes(Array(try take(Int(try unsigned(4))))))  // BINBYTES
    case 0x8E, 0x96: try push(.bytes(Array(try take(try length8()))))  // BINBYTES8, BYTEARRAY8
    // Python 2 `str`: torch.load decodes these as UTF-8, keeping bytes that are not.
    case 0x55: try push(python2String(try take(Int(try byte()))))  // SHORT_BINSTRING
    case 0x54:  // BINSTRING
      let length = Int32(truncatingIfNeeded: try unsigned(4))
      guard length >= 0 else { throw Problem.invalidArgument(opcode: opcodeName, "negative length \(length)") }
      try push(python2String(try take(Int(length))))
    case 0x53: throw Problem.unsupported(opcode: opcodeName, "protocol-0 quoted strings")  // STRING

    // Containers
    case 0x29: try push(.tuple([]))  // EMPTY_TUPLE
    case 0x85: try push(.tuple(try popMany(1)))  // TUPLE1
    case 0x86: try push(.tuple(try popMany(2)))  // TUPLE2
    case 0x87: try push(.tuple(try popMany(3)))  // TUPLE3
    case 0x74: try push(.tuple(try popToMark()))  // TUPLE
    case 0x5D: try push(.list(PickleNode.ListBox()))  // EMPTY_LIST
    case 0x6C: try push(.list(PickleNode.ListBox(try popToMark())))  // LIST
    case 0x7D: try push(.dict(PickleNode.DictBox()))  // EMPTY_DICT
    case 0x64:  // DICT
      try push(.dict(PickleNode.DictBox(entries: try pairs(try popToMark()))))
    case 0x8F: try push(.object(PickleNode.ObjectBox(className: "builtins.set")))  // EMPTY_SET
    case 0x91: try push(.object(PickleNode.ObjectBox(className: "builtins.frozenset", listItems: try popToMark())))  // FROZENSET
    case 0x61: try append(to: try peek(below: 1), [try pop()])  // APPEND
    case 0x65, 0x90:  // APPENDS, ADDITEMS
      let items = try popToMark()
      try append(to: try top(), items)
    case 0x73:  // SETITEM
      let value = try pop(), key = try pop()
      try setItems(on: try top(), [(key, value)])
    case 0x75:  // SETITEMS
      let items = try pairs(try popToMark())
      try setItems(on: try top(), items)

    // Objects
    case 0x63:  // GLOBAL
      let module = try textLine(), name = try textLine()
      try push(TorchGlobals.global(module: module, name: name))
    case 0x93:  // STACK_GLOBAL
      let nameNode = try pop(), moduleNode = try pop()
      guard let module = moduleNode.string, let name = nameNode.string else {
        throw Problem.invalidArgument(opcode: opcodeName, "module and name must be strings")
      }
      try push(TorchGlobals.global(module: module, name: name))
    case 0x52:  // REDUCE
      let args = try pop(), callee = try pop()
      guard let arguments = args.sequence else {
        throw Problem.invalidArgument(opcode: opcodeName, "arguments are a \(args.typeName), not a tuple")
      }
      try push(try call(callee, arguments, kwargs: []))
    case 0x81:  // NEWOBJ
      let args = try pop(), cls = try pop()
      guard let arguments = args.sequence else {
        throw Problem.invalidArgument(opcode: opcodeName, "arguments are a \(args.typeName), not a tuple")
      }
      try push(try call(cls, arguments, kwargs: []))
    case 0x92:  // NEWOBJ_EX
      let kwargs = try pop(), args = try pop(), cls = try pop()
      guard let arguments = args.sequence, case .dict(let keywords) = kwargs.kind else {
        throw Problem.invalidArgument(opcode: opcodeName, "expects a class, an argument tuple and a keyword dict")
      }
      try push(try call(cls, arguments, kwargs: keywords.entries))
    case 0x69:  // INST
      let module = try textLine(), name = try textLine()
      let arguments = try popToMark()
      try push(try call(try adopt(TorchGlobals.global(module: module, name: name)), arguments, kwargs: []))
    case 0x6F:  // OBJ
      let items = try popToMark()
      guard let cls = items.first else { throw Problem.stackUnderflow(opcode: opcodeName) }
      try push(try call(cls, Array(items.dropFirst()), kwargs: []))
    case 0x62:  // BUILD
      let state = try pop()
      try build(try top(), state: state)
    case 0x51:  // BINPERSID
      try push(try persistentLoad(try pop()))
    case 0x50: throw Problem.unsupported(opcode: opcodeName, "text persistent ids (torch writes BINPERSID)")  // PERSID
    case 0x82, 0x83, 0x84: throw Problem.unsupported(opcode: opcodeName, "the extension registry")  // EXT1/2/4
    case 0x97, 0x98: throw Problem.unsupported(opcode: opcodeName, "out-of-band buffers")  // NEXT_BUFFER, READONLY_BUFFER
    default:
      throw Problem.unknownOpcode(opcode)
    }
  }

  // MARK: - Stack

  /// Creates a node, recording it for teardown.
  private mutating func adopt(_ kind: PickleNode.Kind) throws -> PickleNode {
    guard created.count < limits.maxValues else {
      throw Problem.limitExceeded("the pickle creates more than \(limits.maxValues) objects")
    }
    let node = PickleNode(kind)
    created.append(node)
    return node
  }

  private mutating func push(_ kind: PickleNode.Kind) throws { try pushExisting(try adopt(kind)) }

  /// Pushes a node; the stack may not outgrow the object limit (DUP and GET push without
  /// creating objects).
  private mutating func pushExisting(_ node: PickleNode) throws {
    guard stack.count < limits.maxValues else {
      throw Problem.limitExceeded("the stack holds more than \(limits.maxValues) values")
    }
    stack.append(node)
  }

  private mutating func pop() throws -> PickleNode {
    guard let node = stack.last, stack.count > (marks.last ?? 0) else { throw Problem.stackUnderflow(opcode: opcodeName) }
    stack.removeLast()
    return node
  }

  private func top() throws -> PickleNode {
    guard let node = stack.last, stack.count > (marks.last ?? 0) else { throw Problem.stackUnderflow(opcode: opcodeName) }
    return node
  }

  /// The node `depth` places below the top (0 = top), which must lie above the last mark.
  private func peek(below depth: Int) throws -> PickleNode {
    guard stack.count - depth > (marks.last ?? 0) else { throw Problem.stackUnderflow(opcode: opcodeName) }
    return stack[stack.count - 1 - depth]
  }

  private mutating func popMany(_ count: Int) throws -> [PickleNode] {
    guard stack.count - count >= (marks.last ?? 0) else { throw Problem.stackUnderflow(opcode: opcodeName) }
    let items = Array(stack.suffix(count))
    stack.removeLast(count)
    return items
  }

  private mutating func popToMark() throws -> [PickleNode] {
    guard let mark = marks.popLast() else { throw Problem.missingMark(opcode: opcodeName) }
    let items = Array(stack[mark...])
    stack.removeSubrange(mark...)
    return items
  }

  private func pairs(_ items: [PickleNode]) throws -> [(key: PickleNode, value: PickleNode)] {
    guard items.count % 2 == 0 else {
      throw Problem.invalidArgument(opcode: opcodeName, "odd number (\(items.count)) of keys and values")
    }
    return stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }
  }

  private mutating func store(at index: Int) throws {
    let node = try top()
    guard memo.count < limits.maxValues || memo[index] != nil else {
      throw Problem.limitExceeded("the memo holds more than \(limits.maxValues) values")
    }
    memo[index] = node
  }

  private mutating func fetch(_ index: Int) throws {
    guard let node = memo[index] else { throw Problem.memoMiss(index: index) }
    try pushExisting(node)
  }

  mutating func charge(_ units: Int) throws {
    work += units
    guard work <= workLimit else {
      throw Problem.limitExceeded("the pickle needs more than \(workLimit) units of work for its \(data.count) bytes")
    }
  }

  // MARK: - Mutation of existing objects

  private mutating func append(to target: PickleNode, _ items: [PickleNode]) throws {
    switch target.kind {
    case .list(let box): box.items.append(contentsOf: items)
    case .object(let box): box.listItems.append(contentsOf: items)
    default: throw Problem.invalidArgument(opcode: opcodeName, "cannot append to a \(target.typeName)")
    }
  }

  private mutating func setItems(on target: PickleNode, _ items: [(key: PickleNode, value: PickleNode)]) throws {
    switch target.kind {
    case .dict(let box): box.entries.append(contentsOf: items)
    case .object(let box): box.dictItems.append(contentsOf: items)
    default: throw Problem.invalidArgument(opcode: opcodeName, "cannot set items on a \(target.typeName)")
    }
  }

  /// BUILD: Python would call `__setstate__` or update `__dict__`; here the state is recorded.
  /// A second BUILD with a dict state on an object adds to the first, like a `__dict__` update.
  private mutating func build(_ target: PickleNode, state: PickleNode) throws {
    switch target.kind {
    case .object(let box):
      if let old = box.state, case .dict(let first) = old.kind, case .dict(let added) = state.kind {
        // A fresh dict, as Python updates the instance's own __dict__, not the state objects.
        try charge(first.entries.count + added.entries.count)
        box.state = try adopt(.dict(PickleNode.DictBox(entries: first.entries + added.entries)))
      } else {
        box.state = state
      }
    case .dict(let box):
      box.attributes = state
    case .tensor:
      break  // tensor subclasses' Python attributes carry nothing this reader needs
    default:
      throw Problem.invalidArgument(opcode: opcodeName, "cannot set the state of a \(target.typeName)")
    }
  }

  // MARK: - Calls and persistent ids (see TorchGlobals)

  private mutating func call(_ callee: PickleNode, _ args: [PickleNode],
                             kwargs: [(key: PickleNode, value: PickleNode)]) throws -> PickleNode.Kind {
    var cost = args.count + kwargs.count
    let result = try TorchGlobals.call(callee, args, kwargs: kwargs, limits: limits, cost: &cost)
    try charge(cost)
    return result
  }

  private mutating func persistentLoad(_ pid: PickleNode) throws -> PickleNode.Kind {
    try TorchGlobals.storage(from: pid)
  }

  // MARK: - Reading arguments

  private mutating func byte() throws -> UInt8 {
    guard position < data.count else { throw Problem.truncated(opcode: opcodeName) }
    defer { position += 1 }
    return data[position]
  }

  private mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
    guard count >= 0, count <= data.count - position else { throw Problem.truncated(opcode: opcodeName) }
    defer { position += count }
    return data[position ..< position + count]
  }

  /// A little-endian unsigned integer of `width` bytes.
  private mutating func unsigned(_ width: Int) throws -> UInt64 {
    let bytes = try take(width)
    var value: UInt64 = 0
    for (i, b) in bytes.enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
    return value
  }

  private mutating func bigEndian8() throws -> UInt64 {
    try take(8).reduce(0) { $0 << 8 | UInt64($1) }
  }

  /// An 8-byte length, which must fit in what is left of the data.
  private mutating func length8() throws -> Int {
    let length = try unsigned(8)
    guard length <= UInt64(data.count - position) else { throw Problem.truncated(opcode: opcodeName) }
    return Int(length)
  }

  private mutating func line() throws -> ArraySlice<UInt8> {
    guard let end = data[position...].firstIndex(of: 0x0A) else { throw Problem.truncated(opcode: opcodeName) }
    defer { position = end + 1 }
    return data[position ..< end]
  }

  private mutating func textLine() throws -> String {
    try utf8(try line())
  }

  private mutating func decimalLine() throws -> Int {
    let text = try textLine()
    guard let value = Int(text), value >= 0 else { throw Problem.invalidArgument(opcode: opcodeName, "bad index \(text)") }
    return value
  }

  private func utf8(_ bytes: ArraySlice<UInt8>) throws -> String {
    guard let string = String(validating: bytes, as: UTF8.self) else {
      throw Problem.invalidArgument(opcode: opcodeName, "string is not valid UTF-8")
    }
    return string
  }

  private func python2String(_ bytes: ArraySlice<UInt8>) -> PickleNode.Kind {
    if let string = String(validating: bytes, as: UTF8.self) { return .string(string) }
    return .bytes(Array(bytes))
  }

  /// LONG1/LONG4: little-endian two's complement of `count` bytes.
  private mutating func longValue(_ count: Int) throws -> PickleNode.Kind {
    let bytes = Array(try take(count))
    try charge(count)
    guard let last = bytes.last else { return .int(0) }
    let fill: UInt8 = last & 0x80 != 0 ? 0xFF : 0
    // Fits in Int64 when every byte above the eighth is sign extension of bit 63.
    if bytes.count <= 8 || (bytes[8...].allSatisfy { $0 == fill } && (bytes[7] & 0x80 != 0) == (fill == 0xFF)) {
      var value: UInt64 = 0
      for i in 0..<8 { value |= UInt64(i < bytes.count ? bytes[i] : fill) << (8 * UInt64(i)) }
      return .int(Int64(bitPattern: value))
    }
    return .bigInt(bytes)
  }

  /// INT: a decimal line; protocol 0 writes booleans as `01` and `00`.
  private mutating func textInt() throws -> PickleNode.Kind {
    let text = try textLine()
    if text == "01" { return .bool(true) }
    if text == "00" { return .bool(false) }
    guard let value = Int64(text) else { throw Problem.invalidArgument(opcode: opcodeName, "not a 64-bit integer: \(text.prefix(40))") }
    return .int(value)
  }

  /// LONG: a decimal line with an optional trailing `L`.
  private mutating func textLong() throws -> PickleNode.Kind {
    var text = try textLine()
    if text.hasSuffix("L") { text.removeLast() }
    guard let value = Int64(text) else { throw Problem.invalidArgument(opcode: opcodeName, "not a 64-bit integer: \(text.prefix(40))") }
    return .int(value)
  }

  /// UNICODE: Latin-1 text with `\uXXXX` and `\UXXXXXXXX` escapes.
  private func rawUnicodeEscape(_ bytes: ArraySlice<UInt8>) throws -> String {
    var scalars = String.UnicodeScalarView()
    var i = bytes.startIndex
    while i < bytes.endIndex {
      let b = bytes[i]
      if b == UInt8(ascii: "\\"), i + 1 < bytes.endIndex, bytes[i + 1] == UInt8(ascii: "u") || bytes[i + 1] == UInt8(ascii: "U") {
        let width = bytes[i + 1] == UInt8(ascii: "u") ? 4 : 8
        guard bytes.endIndex - (i + 2) >= width,
              let value = UInt32(String(decoding: bytes[(i + 2) ..< (i + 2 + width)], as: UTF8.self), radix: 16),
              let scalar = Unicode.Scalar(value) else {
          throw Problem.invalidArgument(opcode: opcodeName, "bad escape")
        }
        scalars.append(scalar)
        i += 2 + width
      } else {
        scalars.append(Unicode.Scalar(b))
        i += 1
      }
    }
    return String(scalars)
  }
}

/// Opcode names for error messages.
enum PickleOpcode {
  static let stop: UInt8 = 0x2E

  static func name(_ opcode: UInt8) -> String {
    names[opcode] ?? "opcode 0x\(String(opcode, radix: 16))"
  }

  private static let names: [UInt8: String] = [
    0x28: "MARK", 0x2E: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT",
    0x4A: "BININT", 0x4B: "BININT1", 0x4C: "LONG", 0x4D: "BININT2", 0x4E: "NONE", 0x50: "PERSID",
    0x51: "BINPERSID", 0x52: "REDUCE", 0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING",
    0x56: "UNICODE", 0x58: "BINUNICODE", 0x61: "APPEND", 0x62: "BUILD", 0x63: "GLOBAL", 0x64: "DICT",
    0x7D: "EMPTY_DICT", 0x65: "APPENDS", 0x67: "GET", 0x68: "BINGET", 0x69: "INST", 0x6A: "LONG_BINGET",
    0x6C: "LIST", 0x5D: "EMPTY_LIST", 0x6F: "OBJ", 0x70: "PUT", 0x71: "BINPUT", 0x72: "LONG_BINPUT",
    0x73: "SETITEM", 0x74: "TUPLE", 0x29: "EMPTY_TUPLE", 0x75: "SETITEMS", 0x47: "BINFLOAT",
    0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1",
    0x86: "TUPLE2", 0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8A: "LONG1", 0x8B: "LONG4",
    0x42: "BINBYTES", 0x43: "SHORT_BINBYTES", 0x8C: "SHORT_BINUNICODE", 0x8D: "BINUNICODE8",
    0x8E: "BINBYTES8", 0x8F: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX",
    0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
    0x98: "READONLY_BUFFER",
  ]
}
