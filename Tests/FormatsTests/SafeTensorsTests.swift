import Foundation
import Testing
import TestSupport
@testable import Formats

@Suite struct SafeTensorsRoundTripTests {
  /// One tensor of every dtype, with values that exercise sign, subnormals and extremes.
  static func everyDType() throws -> [(name: String, tensor: TensorData)] {
    let specials: [Float] = [0, -0.0, 1, -2.5, 65504, 6.1035156e-05, 5.9604645e-08, .infinity, -.infinity, 3.140625]
    return [
      ("f64", try TensorData(doubles: [1.0 / 3.0, -1e-300, .greatestFiniteMagnitude, 0], shape: [2, 2])),
      ("f32", try TensorData(floats: [.leastNonzeroMagnitude, -1e38, 0.1, 7], shape: [4])),
      ("f16", try TensorData(floats: specials, shape: [2, 5], dtype: .f16)),
      ("bf16", try TensorData(floats: [1, -3.0e38, 1.0e-38, 0.15625, .infinity, 2], shape: [3, 2], dtype: .bf16)),
      ("i64", try TensorData(int64s: [.min, .max, 0, -1, 36], shape: [5])),
      ("i32", try TensorData(int64s: [Int64(Int32.min), Int64(Int32.max), -7], shape: [3], dtype: .i32)),
      ("i16", try TensorData(int64s: [-32768, 32767], shape: [2], dtype: .i16)),
      ("i8", try TensorData(int64s: [-128, 127, 0], shape: [3], dtype: .i8)),
      ("u8", try TensorData(int64s: [0, 255, 17], shape: [1, 3], dtype: .u8)),
      ("bool", try TensorData(int64s: [0, 1, 1, 0], shape: [2, 2], dtype: .bool)),
      ("scalar", try TensorData(floats: [42], shape: [])),
      ("empty", try TensorData(floats: [], shape: [0, 4])),
    ]
  }

  @Test func everyDTypeRoundTripsThroughAFile() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let tensors = try Self.everyDType()
    let url = scratch.file("all.safetensors")
    let metadata = ["format": "pt", "note": "quotes \" and \\ and\nnewline, ünïcödé"]
    try SafeTensors.write(tensors, metadata: metadata, to: url)

    let file = try SafeTensorsFile(url: url)
    #expect(file.names == tensors.map(\.name))
    #expect(file.metadata?.filter { $0.key != SafeTensors.checksumKey } == metadata)
    #expect(try file.verifyChecksum())
    for (name, tensor) in tensors {
      let back = try file.read(name)
      #expect(back == tensor, "\(name)")
    }
    // Header length is a multiple of 8, so the data section is aligned.
    let raw = try [UInt8](Data(contentsOf: url))
    let headerLength = raw.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    #expect(headerLength % 8 == 0)
    // No temporary file is left behind.
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path) == ["all.safetensors"])
  }

  @Test func halfPrecisionValuesSurviveExactly() throws {
    let f16 = try SafeTensorsFile(bytes: SafeTensors.encode(Self.everyDType())).read("f16")
    #expect(try f16.floats() == [0, -0.0, 1, -2.5, 65504, 6.1035156e-05, 5.9604645e-08, .infinity, -.infinity, 3.140625])
    #expect(try f16.floats()[1].sign == .minus)
    let bf16 = try SafeTensorsFile(bytes: SafeTensors.encode(Self.everyDType())).read("bf16")
    // 1.0e-38 and 0.15625 are not bfloat16 values: they come back rounded to nearest even.
    let expected = [1, -3.0e38, 1.0e-38, 0.15625, .infinity, 2].map {
      HalfPrecision.float(fromBFloat16Bits: HalfPrecision.bfloat16Bits(from: Float($0)))
    }
    #expect(try bf16.floats() == expected)
    #expect(try bf16.floats()[1] == Float(bitPattern: 0xFF62_0000))  // −3.0e38 → nearest bf16
  }

  @Test func writeReplacesAnExistingFileAndRejectsBadInput() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let url = scratch.file("w.safetensors")
    try SafeTensors.write([("a", try TensorData(floats: [1], shape: [1]))], to: url)
    try SafeTensors.write([("b", try TensorData(floats: [2, 3], shape: [2]))], to: url)
    let file = try SafeTensorsFile(url: url)
    #expect(file.names == ["b"])
    #expect(file.metadata.map { Array($0.keys) } == [SafeTensors.checksumKey])  // only the checksum

    let one = try TensorData(floats: [1], shape: [1])
    #expect(throws: SafeTensorsError(file: url.path, tensor: "a", reason: .duplicateName)) {
      try SafeTensors.write([("a", one), ("a", one)], to: url)
    }
    #expect(throws: SafeTensorsError(file: url.path, tensor: "__metadata__", reason: .reservedName)) {
      try SafeTensors.write([("__metadata__", one)], to: url)
    }
    #expect(try SafeTensorsFile(url: url).names == ["b"])  // failed writes left the file alone
  }

  @Test func writerMatchesTheReferenceLibraryByteForByte() throws {
    // weights.safetensors holds only F32 tensors, for which the reference writer's order is
    // alphabetical in both header and data; written in that order our file must be identical.
    let url = try Golden.url("pgm-tiny/weights.safetensors")
    let file = try SafeTensorsFile(url: url)
    let image = try SafeTensors.encode(file.readAll(), metadata: file.metadata, checksum: false)
    #expect(image == [UInt8](try Data(contentsOf: url)))
  }
}

@Suite struct SafeTensorsGoldenTests {
  @Test func pgmWeightsHaveTheReferenceNamesAndShapes() throws {
    let file = try SafeTensorsFile(url: try Golden.url("pgm-tiny/weights.safetensors"))
    let config = try JSONSerialization.jsonObject(with: Data(contentsOf: try Golden.url("pgm-tiny/config.json"))) as? [String: Any]
    let order = try #require(config?["parameter_order"] as? [String])
    #expect(Set(file.names) == Set(order))
    #expect(file.entries.allSatisfy { $0.dtype == .f32 })
    #expect(file.entry("decoder.group_swap.base_embedding")?.shape == [1, 48])
    #expect(file.entry("encoder.blocks.0.attn_qkv.weight")?.shape == [144, 48])
    #expect(file.entry("vocab_embed.embedding")?.shape == [37, 48])
    let embedding = try file.read("vocab_embed.embedding").floats()
    #expect(embedding.count == 37 * 48)
    #expect(embedding.contains { $0 != 0 })
  }

  @Test func pgmCasesHoldTheDocumentedTensors() throws {
    let file = try SafeTensorsFile(url: try Golden.url("pgm-tiny/cases.safetensors"))
    let expected: [(String, DType, [Int])] = [
      ("train.x0", .i64, [3, 24]), ("train.group_idxs", .i64, [3, 24]), ("train.sigma", .f32, [3]),
      ("train.t", .f32, [3]), ("train.logits", .f32, [3, 24, 37]), ("train.token_loss", .f32, [3, 24]),
      ("train.loss", .f32, [1]), ("infer.x", .i64, [3, 10]), ("infer.clean_positions", .i64, [3, 10]),
      ("infer.concrete_lengths", .i64, [3]), ("infer.noisy_positions", .i64, [3, 7]), ("infer.logits", .f32, [3, 7, 37]),
    ]
    for (name, dtype, shape) in expected {
      let entry = try #require(file.entry(name), "\(name)")
      #expect(entry.dtype == dtype && entry.shape == shape, "\(name)")
    }
    #expect(file.entry("train.xt") == nil)
    let weights = try SafeTensorsFile(url: try Golden.url("pgm-tiny/weights.safetensors"))
    #expect(Set(file.names.filter { $0.hasPrefix("grad.") }) == Set(weights.names.map { "grad." + $0 }))

    #expect(try file.read("train.x0").int64s().allSatisfy { (0..<37).contains($0) })
    #expect(Set(try file.read("train.group_idxs").int64s()) == [0, 1])
    #expect(try file.read("train.sigma").floats() == [0, 0, 0])
    #expect(try file.read("train.loss").floats()[0].isFinite)
  }

  @Test func mdlmCasesHaveMaskedTokens() throws {
    let file = try SafeTensorsFile(url: try Golden.url("mdlm-tiny/cases.safetensors"))
    #expect(file.entry("train.xt")?.shape == [3, 24])
    #expect(file.entry("train.group_idxs") == nil)
    let x0 = try file.read("train.x0").int64s()
    let xt = try file.read("train.xt").int64s()
    // xt is x0 with some tokens replaced by the mask id 36.
    #expect(zip(x0, xt).allSatisfy { $0 == $1 || $1 == 36 })
    #expect(xt.contains(36))
  }
}

@Suite struct SafeTensorsMalformedTests {
  /// Parses `bytes` and returns the reason it was rejected (nil if it was accepted).
  func rejection(_ bytes: [UInt8]) -> (reason: SafeTensorsError.Reason, tensor: String?)? {
    do {
      _ = try SafeTensorsFile(bytes: bytes, name: "bad.safetensors")
      return nil
    } catch let error as SafeTensorsError {
      #expect(error.file == "bad.safetensors")
      #expect(error.description.hasPrefix("bad.safetensors"))
      return (error.reason, error.tensor)
    } catch {
      Issue.record("unexpected error type \(error)")
      return nil
    }
  }

  func entry(_ name: String, _ dtype: String = "F32", shape: String = "[2]", offsets: String = "[0,8]") -> String {
    "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":\(offsets)}"
  }

  @Test func fileAndHeaderLengthProblems() {
    #expect(rejection([1, 2, 3])?.reason == .fileTooShort(size: 3))
    var huge: [UInt8] = []
    huge.appendLE(UInt64(200_000_000))
    huge += Array("{}".utf8)
    #expect(rejection(huge)?.reason == .headerTooLarge(length: 200_000_000))
    var beyond: [UInt8] = []
    beyond.appendLE(UInt64(1000))
    beyond += Array("{}      ".utf8)
    #expect(rejection(beyond)?.reason == .headerBeyondFile(length: 1000, fileSize: 16))
    var maximal: [UInt8] = []
    maximal.appendLE(UInt64.max)
    #expect(rejection(maximal)?.reason == .headerTooLarge(length: .max))
  }

  @Test func headerSyntaxProblems() {
    var notUTF8: [UInt8] = []
    notUTF8.appendLE(UInt64(4))
    notUTF8 += [0x7B, 0xFF, 0xFE, 0x7D]
    #expect(rejection(notUTF8)?.reason == .headerNotUTF8)
    guard case .headerNotJSON = rejection(safetensorsImage(header: "{\"a\":", dataSize: 0))?.reason else {
      Issue.record("truncated JSON accepted")
      return
    }
    #expect(rejection(safetensorsImage(header: "[1,2]", dataSize: 0))?.reason == .headerNotObject)
    let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
    guard case .headerNotJSON = rejection(safetensorsImage(header: deep, dataSize: 0))?.reason else {
      Issue.record("10,000-deep nesting accepted")
      return
    }
  }

  @Test func entryFieldProblems() {
    let cases: [(String, SafeTensorsError.Reason)] = [
      ("{\"a\":3}", .entryNotObject),
      ("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", .missingField("dtype")),
      ("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", .missingField("shape")),
      ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", .missingField("data_offsets")),
      ("{\(entry("a", "Q7"))}", .unknownDType("Q7")),
      ("{\(entry("a", shape: "[2,-1]"))}", .invalidShape("negative dimension -1")),
      ("{\(entry("a", shape: "[4611686018427387904,4]"))}", .invalidShape("element count of [4611686018427387904, 4] overflows")),
      ("{\(entry("a", shape: "[99999999999999999999]"))}", .invalidShape("dimension 99999999999999999999 is too large")),
      ("{\(entry("a", shape: "[2.5]"))}", .invalidShape("dimension is a number, not an integer")),
      ("{\(entry("a", shape: "[3]"))}", .byteSpanMismatch(expected: 12, actual: 8)),
      ("{\(entry("a", offsets: "[8,16]"))}", .offsetsOutOfRange(start: 8, end: 16, dataSize: 8)),
      ("{\(entry("a", shape: "[0]", offsets: "[8,0]"))}", .offsetsOutOfRange(start: 8, end: 0, dataSize: 8)),
      ("{\(entry("a", offsets: "[0]"))}",
       .invalidField("data_offsets", "expected two non-negative integers [start, end]")),
      ("{\(entry("a", offsets: "[-8,0]"))}",
       .invalidField("data_offsets", "expected two non-negative integers [start, end]")),
    ]
    for (header, reason) in cases {
      let found = rejection(safetensorsImage(header: header, dataSize: 8))
      #expect(found?.reason == reason, "\(header)")
      #expect(found?.tensor == "a", "\(header)")
    }
  }

  @Test func overlapsDuplicatesAndMetadata() {
    let overlap = rejection(safetensorsImage(header: "{\(entry("a")),\(entry("b", offsets: "[4,12]"))}", dataSize: 12))
    #expect(overlap?.reason == .overlapping(other: "a"))
    #expect(overlap?.tensor == "b")
    let duplicate = rejection(safetensorsImage(header: "{\(entry("a")),\(entry("a", offsets: "[8,16]"))}", dataSize: 16))
    #expect(duplicate?.reason == .duplicateName)
    #expect(duplicate?.tensor == "a")
    #expect(rejection(safetensorsImage(header: "{\"__metadata__\":{\"k\":1}}", dataSize: 0))?.reason
      == .invalidMetadata("value of \"k\" is a number, not a string"))
    // Empty tensors may sit anywhere, gaps are tolerated, and the entry order need not follow the data.
    let fine = safetensorsImage(header: "{\(entry("b", offsets: "[12,20]")),\(entry("e", shape: "[0]", offsets: "[4,4]")),\(entry("a"))}", dataSize: 20)
    #expect(rejection(fine) == nil)
  }

  @Test func readingAnUnknownNameFails() throws {
    let file = try SafeTensorsFile(bytes: safetensorsImage(header: "{\(entry("a"))}", dataSize: 8), name: "x")
    #expect(throws: SafeTensorsError(file: "x", tensor: "zz", reason: .tensorNotFound)) { try file.read("zz") }
    #expect(try file.read("a").floats() == [0, 0])
  }
}

@Suite struct WeightMismatchTests {
  @Test func oneErrorListsMissingUnexpectedAndMisShapedEntries() throws {
    let tensors: [(name: String, tensor: TensorData)] = [
      ("a", try TensorData(floats: .init(repeating: 0, count: 6), shape: [2, 3])),
      ("b", try TensorData(floats: [0, 0, 0, 0], shape: [4])),
      ("c", try TensorData(floats: [0], shape: [1])),
      ("d", try TensorData(floats: [0], shape: [])),
    ]
    let file = try SafeTensorsFile(bytes: SafeTensors.encode(tensors), name: "w.safetensors")
    let expected: [(name: String, shape: [Int])] = [("a", [3, 2]), ("b", [4]), ("x", [5]), ("d", [1]), ("y", [])]
    do {
      try file.checkAgainst(expected: expected)
      Issue.record("mismatch not detected")
    } catch let mismatch as WeightMismatch {
      #expect(mismatch.missing == ["x", "y"])
      #expect(mismatch.unexpected == ["c"])
      #expect(mismatch.wrongShapes == [
        .init(name: "a", expected: [3, 2], actual: [2, 3]), .init(name: "d", expected: [1], actual: []),
      ])
      let text = mismatch.description
      for fragment in ["w.safetensors", "2 missing", "1 unexpected", "2 with the wrong shape", "missing:     x",
                       "unexpected:  c", "a: expected [3, 2], found [2, 3]"] {
        #expect(text.contains(fragment), "\(fragment)")
      }
    }
    // Same names and shapes in another order pass.
    try file.checkAgainst(expected: [("d", []), ("c", [1]), ("b", [4]), ("a", [2, 3])])
  }
}
