import Foundation
import Testing
@testable import Formats

/// The pickle machine against pickles CPython wrote, and against hostile programs.
@Suite struct PickleTests {
  /// `pickle.dumps(obj, protocol=p)` by CPython 3 for p = 0...5 of one dict exercising the
  /// built-in types (see `expected`); `big`/`negbig` only in protocols ≥ 2, where they are LONG1.
  static let cpython: [Int: String] = [
    0: "KGRwMApWaW50CnAxCkkxCnNWbmVnCnAyCkktMzAwCnNWaTMyCnAzCkk3MDAwMApzVmk2NG1heApwNApMOTIyMzM3MjAzNjg1NDc3NTgwN0wKc1ZpNjRtaW4KcDUKTC05MjIzMzcyMDM2ODU0Nzc1ODA4TApzVmZsb2F0CnA2CkYxLjUKc1ZzdHIKcDcKVmjpbGxvIFx1MjYwMwpwOApzVmJ5dGVzCnA5CmNfY29kZWNzCmVuY29kZQpwMTAKKFZcdTAwMDD/YWIKcDExClZsYXRpbjEKcDEyCnRwMTMKUnAxNApzVnR1cGxlCnAxNQooSTEKVmEKcDE2Ck50cDE3CnNWbGlzdApwMTgKKGxwMTkKSTAxCmFJMDAKYXNWbmVzdGVkCnAyMAooZHAyMQpWeApwMjIKKGxwMjMKSTEKYShkcDI0ClZ5CnAyNQpJMgpzYXNzVmVtcHR5CnAyNgoodHNWc2V0CnAyNwpjX19idWlsdGluX18Kc2V0CnAyOAooKGxwMjkKSTMKYXRwMzAKUnAzMQpzVmZzCnAzMgpjX19idWlsdGluX18KZnJvemVuc2V0CnAzMwooKGxwMzQKSTQKYXRwMzUKUnAzNgpzVm9kCnAzNwpjY29sbGVjdGlvbnMKT3JkZXJlZERpY3QKcDM4Cih0UnAzOQpnMTYKSTEKc1ZiCnA0MApJMgpzc1ZiYQpwNDEKY19fYnVpbHRpbl9fCmJ5dGVhcnJheQpwNDIKKGcxMAooVnh5CnA0MwpnMTIKdHA0NApScDQ1CnRwNDYKUnA0NwpzVnNoYXJlZApwNDgKKGxwNDkKSTEKYUkyCmFzVnNoYXJlZDIKcDUwCmc0OQpzSTcKVmludGtleQpwNTEKcy4=",
    1: "fXEAKFgDAAAAaW50cQFLAVgDAAAAbmVncQJK1P7//1gDAAAAaTMycQNKcBEBAFgGAAAAaTY0bWF4cQRMOTIyMzM3MjAzNjg1NDc3NTgwN0wKWAYAAABpNjRtaW5xBUwtOTIyMzM3MjAzNjg1NDc3NTgwOEwKWAUAAABmbG9hdHEGRz/4AAAAAAAAWAMAAABzdHJxB1gKAAAAaMOpbGxvIOKYg3EIWAUAAABieXRlc3EJY19jb2RlY3MKZW5jb2RlCnEKKFgFAAAAAMO/YWJxC1gGAAAAbGF0aW4xcQx0cQ1ScQ5YBQAAAHR1cGxlcQ8oSwFYAQAAAGFxEE50cRFYBAAAAGxpc3RxEl1xEyhJMDEKSTAwCmVYBgAAAG5lc3RlZHEUfXEVWAEAAAB4cRZdcRcoSwF9cRhYAQAAAHlxGUsCc2VzWAUAAABlbXB0eXEaKVgDAAAAc2V0cRtjX19idWlsdGluX18Kc2V0CnEcKF1xHUsDYXRxHlJxH1gCAAAAZnNxIGNfX2J1aWx0aW5fXwpmcm96ZW5zZXQKcSEoXXEiSwRhdHEjUnEkWAIAAABvZHElY2NvbGxlY3Rpb25zCk9yZGVyZWREaWN0CnEmKVJxJyhoEEsBWAEAAABicShLAnVYAgAAAGJhcSljX19idWlsdGluX18KYnl0ZWFycmF5CnEqKGgKKFgCAAAAeHlxK2gMdHEsUnEtdHEuUnEvWAYAAABzaGFyZWRxMF1xMShLAUsCZVgHAAAAc2hhcmVkMnEyaDFLB1gGAAAAaW50a2V5cTN1Lg==",
    2: "gAJ9cQAoWAMAAABpbnRxAUsBWAMAAABuZWdxAkrU/v//WAMAAABpMzJxA0pwEQEAWAYAAABpNjRtYXhxBIoI/////////39YBgAAAGk2NG1pbnEFiggAAAAAAAAAgFgFAAAAZmxvYXRxBkc/+AAAAAAAAFgDAAAAc3RycQdYCgAAAGjDqWxsbyDimINxCFgFAAAAYnl0ZXNxCWNfY29kZWNzCmVuY29kZQpxClgFAAAAAMO/YWJxC1gGAAAAbGF0aW4xcQyGcQ1ScQ5YBQAAAHR1cGxlcQ9LAVgBAAAAYXEQTodxEVgEAAAAbGlzdHESXXETKIiJZVgGAAAAbmVzdGVkcRR9cRVYAQAAAHhxFl1xFyhLAX1xGFgBAAAAeXEZSwJzZXNYBQAAAGVtcHR5cRopWAMAAABzZXRxG2NfX2J1aWx0aW5fXwpzZXQKcRxdcR1LA2GFcR5ScR9YAgAAAGZzcSBjX19idWlsdGluX18KZnJvemVuc2V0CnEhXXEiSwRhhXEjUnEkWAIAAABvZHElY2NvbGxlY3Rpb25zCk9yZGVyZWREaWN0CnEmKVJxJyhoEEsBWAEAAABicShLAnVYAgAAAGJhcSljX19idWlsdGluX18KYnl0ZWFycmF5CnEqaApYAgAAAHh5cStoDIZxLFJxLYVxLlJxL1gGAAAAc2hhcmVkcTBdcTEoSwFLAmVYBwAAAHNoYXJlZDJxMmgxSwdYBgAAAGludGtleXEzWAMAAABiaWdxNIoJAAAAAAAAAABAWAYAAABuZWdiaWdxNYoJ///////////+dS4=",
    3: "gAN9cQAoWAMAAABpbnRxAUsBWAMAAABuZWdxAkrU/v//WAMAAABpMzJxA0pwEQEAWAYAAABpNjRtYXhxBIoI/////////39YBgAAAGk2NG1pbnEFiggAAAAAAAAAgFgFAAAAZmxvYXRxBkc/+AAAAAAAAFgDAAAAc3RycQdYCgAAAGjDqWxsbyDimINxCFgFAAAAYnl0ZXNxCUMEAP9hYnEKWAUAAAB0dXBsZXELSwFYAQAAAGFxDE6HcQ1YBAAAAGxpc3RxDl1xDyiIiWVYBgAAAG5lc3RlZHEQfXERWAEAAAB4cRJdcRMoSwF9cRRYAQAAAHlxFUsCc2VzWAUAAABlbXB0eXEWKVgDAAAAc2V0cRdjYnVpbHRpbnMKc2V0CnEYXXEZSwNhhXEaUnEbWAIAAABmc3EcY2J1aWx0aW5zCmZyb3plbnNldApxHV1xHksEYYVxH1JxIFgCAAAAb2RxIWNjb2xsZWN0aW9ucwpPcmRlcmVkRGljdApxIilScSMoaAxLAVgBAAAAYnEkSwJ1WAIAAABiYXElY2J1aWx0aW5zCmJ5dGVhcnJheQpxJkMCeHlxJ4VxKFJxKVgGAAAAc2hhcmVkcSpdcSsoSwFLAmVYBwAAAHNoYXJlZDJxLGgrSwdYBgAAAGludGtleXEtWAMAAABiaWdxLooJAAAAAAAAAABAWAYAAABuZWdiaWdxL4oJ///////////+dS4=",
    4: "gASVfgEAAAAAAAB9lCiMA2ludJRLAYwDbmVnlErU/v//jANpMzKUSnARAQCMBmk2NG1heJSKCP////////9/jAZpNjRtaW6UiggAAAAAAAAAgIwFZmxvYXSURz/4AAAAAAAAjANzdHKUjApow6lsbG8g4piDlIwFYnl0ZXOUQwQA/2FilIwFdHVwbGWUSwGMAWGUToeUjARsaXN0lF2UKIiJZYwGbmVzdGVklH2UjAF4lF2UKEsBfZSMAXmUSwJzZXOMBWVtcHR5lCmMA3NldJSPlChLA5CMAmZzlChLBJGUjAJvZJSMC2NvbGxlY3Rpb25zlIwLT3JkZXJlZERpY3SUk5QpUpQoaAxLAYwBYpRLAnWMAmJhlIwIYnVpbHRpbnOUjAlieXRlYXJyYXmUk5RDAnh5lIWUUpSMBnNoYXJlZJRdlChLAUsCZYwHc2hhcmVkMpRoKUsHjAZpbnRrZXmUjANiaWeUigkAAAAAAAAAAECMBm5lZ2JpZ5SKCf///////////nUu",
    5: "gAWVaAEAAAAAAAB9lCiMA2ludJRLAYwDbmVnlErU/v//jANpMzKUSnARAQCMBmk2NG1heJSKCP////////9/jAZpNjRtaW6UiggAAAAAAAAAgIwFZmxvYXSURz/4AAAAAAAAjANzdHKUjApow6lsbG8g4piDlIwFYnl0ZXOUQwQA/2FilIwFdHVwbGWUSwGMAWGUToeUjARsaXN0lF2UKIiJZYwGbmVzdGVklH2UjAF4lF2UKEsBfZSMAXmUSwJzZXOMBWVtcHR5lCmMA3NldJSPlChLA5CMAmZzlChLBJGUjAJvZJSMC2NvbGxlY3Rpb25zlIwLT3JkZXJlZERpY3SUk5QpUpQoaAxLAYwBYpRLAnWMAmJhlJYCAAAAAAAAAHh5lIwGc2hhcmVklF2UKEsBSwJljAdzaGFyZWQylGgkSweMBmludGtleZSMA2JpZ5SKCQAAAAAAAAAAQIwGbmVnYmlnlIoJ///////////+dS4=",
  ]

  static func expected(protocol p: Int) -> PickleValue {
    func s(_ x: String) -> PickleValue { .string(x) }
    func entry(_ k: PickleValue, _ v: PickleValue) -> PickleDict.Entry { .init(key: k, value: v) }
    var entries: [PickleDict.Entry] = [
      entry(s("int"), .int(1)), entry(s("neg"), .int(-300)), entry(s("i32"), .int(70000)),
      entry(s("i64max"), .int(.max)), entry(s("i64min"), .int(.min)), entry(s("float"), .float(1.5)),
      entry(s("str"), s("héllo ☃")), entry(s("bytes"), .bytes([0, 0xFF, 0x61, 0x62])),
      entry(s("tuple"), .tuple([.int(1), s("a"), .none])), entry(s("list"), .list([.bool(true), .bool(false)])),
      entry(s("nested"), .dict(PickleDict(entries: [entry(s("x"), .list([.int(1), .dict(PickleDict(entries: [entry(s("y"), .int(2))]))]))]))),
      entry(s("empty"), .tuple([])),
      entry(s("set"), .object(PickleObject(className: "builtins.set", listItems: [.int(3)]))),
      entry(s("fs"), .object(PickleObject(className: "builtins.frozenset", listItems: [.int(4)]))),
      entry(s("od"), .dict(PickleDict(entries: [entry(s("a"), .int(1)), entry(s("b"), .int(2))], isOrdered: true))),
      entry(s("ba"), .bytes([0x78, 0x79])),
      entry(s("shared"), .list([.int(1), .int(2)])), entry(s("shared2"), .list([.int(1), .int(2)])),
      entry(.int(7), s("intkey")),
    ]
    if p >= 2 {
      entries.append(entry(s("big"), .bigInt([0, 0, 0, 0, 0, 0, 0, 0, 0x40])))
      entries.append(entry(s("negbig"), .bigInt([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE])))
    }
    return .dict(PickleDict(entries: entries))
  }

  @Test(arguments: 0...5)
  func decodesWhatCPythonWrites(protocol p: Int) throws {
    let text = try #require(Self.cpython[p])
    let bytes = try #require(Data(base64Encoded: text))
    let value = try Unpickler.decode([UInt8](bytes))
    #expect(value == Self.expected(protocol: p))
  }

  // MARK: - Errors and hostile programs

  func failure(_ bytes: [UInt8], limits: PickleLimits = PickleLimits()) -> Unpickler.Failure? {
    do {
      _ = try Unpickler.decode(bytes, limits: limits)
      return nil
    } catch let failure as Unpickler.Failure {
      return failure
    } catch {
      Issue.record("unexpected error \(error)")
      return nil
    }
  }

  @Test func malformedProgramsNameTheProblemAndOffset() {
    let x = UInt8(ascii: "X")
    let cases: [([UInt8], Int, TorchCheckpointError.PickleProblem)] = [
      ([0x80, 2, x, 10, 0, 0, 0, 0x61], 2, .truncated(opcode: "BINUNICODE")),
      ([0x80, 2, 0xFF], 2, .unknownOpcode(0xFF)),
      ([0x80, 2, 0x85, 0x2E], 2, .stackUnderflow(opcode: "TUPLE1")),
      ([0x80, 2, 0x2E], 2, .stackUnderflow(opcode: "STOP")),
      ([0x80, 2, 0x68, 5, 0x2E], 2, .memoMiss(index: 5)),
      ([0x80, 2, 0x4E], 3, .missingStop),
      ([0x80, 9], 0, .unsupportedProtocol(9)),
      ([0x80, 2, 0x74], 2, .missingMark(opcode: "TUPLE")),
      ([0x80, 2, 0x4E, 0x28, 0x85], 4, .stackUnderflow(opcode: "TUPLE1")),  // the mark hides the None
      ([0x80, 2, 0x4B, 1, 0x4B, 2, 0x61, 0x2E], 6, .invalidArgument(opcode: "APPEND", "cannot append to a int")),
      ([0x80, 2, 0x29, 0x52, 0x2E], 3, .stackUnderflow(opcode: "REDUCE")),
      ([0x80, 2, 0x8B, 0xFF, 0xFF, 0xFF, 0xFF], 2, .invalidArgument(opcode: "LONG4", "negative length -1")),
      ([0x80, 2, 0x53] + Array("'a'\n.".utf8), 2, .unsupported(opcode: "STRING", "protocol-0 quoted strings")),
    ]
    for (bytes, offset, problem) in cases {
      let found = failure(bytes)
      #expect(found?.problem == problem, "\(bytes)")
      #expect(found?.offset == offset, "\(bytes)")
    }
  }

  @Test func giantDeclaredLengthsFailWithoutAllocating() {
    // BINUNICODE of 4 GiB, BINBYTES8 / BINUNICODE8 / BYTEARRAY8 of 2⁶³ and 2⁶⁴−1, FRAME of 2⁶³:
    // all rejected before any allocation because the data is not there.
    var cases: [[UInt8]] = [[0x80, 4, 0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0x61]]
    for opcode: UInt8 in [0x8E, 0x8D, 0x96, 0x95] {
      cases.append([0x80, 4, opcode, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x61])
      cases.append([0x80, 4, opcode] + [UInt8](repeating: 0xFF, count: 8) + [0x61])
    }
    cases.append([0x80, 2, 0x8B, 0xFF, 0xFF, 0xFF, 0x7F, 1])  // LONG4 of 2 GiB
    for bytes in cases {
      guard case .truncated? = failure(bytes)?.problem else {
        Issue.record("\(bytes) not rejected as truncated")
        continue
      }
    }
  }

  @Test func deepNestingIsRefusedAndTornDownWithoutRecursion() {
    // 200,000 nested lists: `]` × n then APPEND × (n−1). Converting would recurse 200,000 deep
    // and so would releasing the chain; both must be avoided.
    let n = 200_000
    let program = [0x80, 2] + [UInt8](repeating: 0x5D, count: n) + [UInt8](repeating: 0x61, count: n - 1) + [0x2E]
    #expect(failure(program)?.problem == .limitExceeded("nesting deeper than 256 levels"))
    // Within the limit the same shape decodes.
    let shallow = [0x80, 2] + [UInt8](repeating: 0x5D, count: 100) + [UInt8](repeating: 0x61, count: 99) + [0x2E]
    var depth = 0
    var value = try? Unpickler.decode(shallow)
    while case .list(let items)? = value, let inner = items.first { depth += 1; value = inner }
    #expect(depth == 99)
  }

  @Test func sharedReferencesCannotExplode() {
    // "Billion laughs": level i is [level i−1, level i−1]; 60 levels would be 2⁶⁰ values.
    var p = PickleAssembler()
    p.emptyList(); p.put(0)
    for level in 1...60 {
      p.mark(); p.get(UInt8(level - 1)); p.get(UInt8(level - 1)); p.raw(0x6C); p.put(UInt8(level))
    }
    p.stop()
    #expect(failure(p.bytes, limits: PickleLimits(maxValues: 100_000))?.problem
      == .limitExceeded("more than 100000 values (shared objects count once per use)"))
  }

  @Test func repeatedExpensiveCallsHitTheWorkBudget() {
    // One 100 kB string, then _codecs.encode(s, 'latin1') called 50,000 times through the memo:
    // 5 GB of encoding from a 350 kB program.
    var p = PickleAssembler()
    p.global("_codecs", "encode"); p.put(0)
    p.mark(); p.string(String(repeating: "a", count: 100_000)); p.string("latin1"); p.tuple(); p.put(1)
    for _ in 0..<50_000 { p.get(0); p.get(1); p.reduce(); p.raw(0x30) }
    p.none(); p.stop()
    guard case .limitExceeded? = failure(p.bytes)?.problem else {
      Issue.record("amplified work not stopped")
      return
    }
  }

  @Test func addingOneItemAtATimeIsLinear() throws {
    // 200,000 single APPENDs and SETITEMs: copying the container on each would take minutes.
    let n = 200_000
    var list: [UInt8] = [0x80, 2, 0x5D]
    for _ in 0..<n { list += [0x4E, 0x61] }  // NONE, APPEND
    list.append(0x2E)
    var dict: [UInt8] = [0x80, 2, 0x7D]
    for i in 0..<n { dict += [0x4A] + withUnsafeBytes(of: Int32(i).littleEndian, Array.init) + [0x4E, 0x73] }  // key, None, SETITEM
    dict.append(0x2E)
    // No wall-time assertion (a loaded machine would fail it): a quadratic container would make
    // this test take minutes, which the suite's run time shows.
    #expect(try Unpickler.decode(list).elements?.count == n)
    #expect(try Unpickler.decode(dict).dictValue?.entries.count == n)
  }

  @Test func objectStackAndMemoCountsAreBounded() {
    let limits = PickleLimits(maxValues: 1000)
    let objects = [0x80, 2] + [UInt8](repeating: 0x4E, count: 2000) + [0x2E]
    #expect(failure(objects, limits: limits)?.problem == .limitExceeded("the pickle creates more than 1000 objects"))
    let duplicates = [0x80, 2, 0x4E] + [UInt8](repeating: 0x32, count: 2000) + [0x2E]
    #expect(failure(duplicates, limits: limits)?.problem == .limitExceeded("the stack holds more than 1000 values"))
    var memo: [UInt8] = [0x80, 2, 0x4E]
    for i in 0..<2000 { memo += [0x72] + withUnsafeBytes(of: UInt32(i).littleEndian, Array.init) }  // LONG_BINPUT i
    memo.append(0x2E)
    #expect(failure(memo, limits: limits)?.problem == .limitExceeded("the memo holds more than 1000 values"))
  }

  @Test func cyclesBecomeMarkers() throws {
    // l = []; l.append(l); d = {}; d['self'] = d
    let list = try Unpickler.decode([0x80, 2, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x2E])
    #expect(list == .list([.cycle]))
    var p = PickleAssembler()
    p.emptyDict(); p.put(0); p.string("self"); p.get(0); p.setItem(); p.stop()
    #expect(try Unpickler.decode(p.bytes) == .dict(PickleDict(entries: [.init(key: .string("self"), value: .cycle)])))
  }

  @Test func nothingIsExecutedUnknownClassesArePlaceholders() throws {
    // os.system('rm -rf /') and an object with state: both stay data.
    var p = PickleAssembler()
    p.mark()
    p.global("os", "system"); p.mark(); p.string("rm -rf /"); p.tuple(); p.reduce()
    p.global("pathlib", "PosixPath"); p.mark(); p.string("/tmp"); p.tuple(); p.raw(0x81)
    p.emptyDict(); p.string("k"); p.int(5); p.setItem(); p.build()
    p.raw(0x6C)  // LIST
    p.stop()
    let value = try Unpickler.decode(p.bytes)
    #expect(value[0] == .object(PickleObject(className: "os.system", args: [.string("rm -rf /")])))
    #expect(value[1]?.objectValue?.className == "pathlib.PosixPath")
    #expect(value[1]?["k"] == .int(5))
    #expect(value[1]?.objectValue?.args == [.string("/tmp")])
  }
}
