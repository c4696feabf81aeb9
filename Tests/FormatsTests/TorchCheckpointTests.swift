import Foundation
import Testing
@testable import Formats

/// Hand-built checkpoints: view handling, container variants, and every error the reader reports.
@Suite struct TorchCheckpointTests {
  /// A checkpoint whose pickle is `{name: tensor, ...}` built by `body`.
  func image(storages: [(key: String, bytes: [UInt8])], zip64: Bool = false,
             _ body: (inout PickleAssembler) -> Void) -> [UInt8] {
    var p = PickleAssembler()
    p.emptyDict()
    p.mark()
    body(&p)
    p.setItems()
    p.stop()
    return checkpointImage(pickle: p.bytes, storages: storages, zip64: zip64)
  }

  func problem(_ body: () throws -> Void) -> TorchCheckpointError.Problem? {
    do {
      try body()
      return nil
    } catch let error as TorchCheckpointError {
      #expect(error.file.hasSuffix("t.ckpt") || error.file == "<memory>")
      return error.problem
    } catch {
      Issue.record("unexpected error type: \(error)")
      return nil
    }
  }

  @Test(arguments: [false, true])
  func stridedAndOffsetViewsAreGatheredIntoContiguousData(zip64: Bool) throws {
    let storage = f32Bytes((0..<12).map(Float.init))
    let bytes = image(storages: [("0", storage)], zip64: zip64) { p in
      p.string("transposed"); p.tensor(key: "0", count: 12, offset: 0, shape: [3, 2], strides: [1, 3])
      p.string("offset"); p.tensor(key: "0", count: 12, offset: 5, shape: [2, 2], strides: [2, 1])
      p.string("column"); p.tensor(key: "0", count: 12, offset: 1, shape: [4, 1], strides: [3, 1])
      p.string("size-one dims"); p.tensor(key: "0", count: 12, offset: 11, shape: [1, 1], strides: [1_000_000, 7])
      p.string("scalar"); p.tensor(key: "0", count: 12, offset: 7, shape: [], strides: [])
      p.string("empty"); p.tensor(key: "0", count: 12, offset: 12, shape: [0, 5], strides: [5, 1])
      p.string("3d"); p.tensor(key: "0", count: 12, offset: 0, shape: [2, 2, 3], strides: [3, 6, 1])
    }
    let checkpoint = try TorchCheckpoint(bytes: bytes)
    #expect(checkpoint.archiveName == "archive")
    #expect(checkpoint.storageKeys == ["0"])
    let tensors = try checkpoint.readTensors(in: checkpoint.root)
    let values = try Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, try $0.tensor.floats()) })
    #expect(values["transposed"] == [0, 3, 1, 4, 2, 5])
    #expect(values["offset"] == [5, 6, 7, 8])
    #expect(values["column"] == [1, 4, 7, 10])
    #expect(values["size-one dims"] == [11])
    #expect(values["scalar"] == [7])
    #expect(values["empty"] == [])
    #expect(values["3d"] == [0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11])
    #expect(tensors.first { $0.name == "3d" }?.tensor.shape == [2, 2, 3])
    #expect(checkpoint["transposed"]?.tensorValue?.isContiguous == false)
    #expect(checkpoint["offset"]?.tensorValue?.isContiguous == true)
  }

  @Test func storageTypesWrappersAndNewerTorchForms() throws {
    let half = try TensorData(floats: [1, -2, 0.5], shape: [3], dtype: .f16)
    let brain = try TensorData(floats: [3, 4], shape: [2], dtype: .bf16)
    let longs = try TensorData(int64s: [-1, 1 << 40], shape: [2])
    let flags = try TensorData(int64s: [1, 0, 1], shape: [3], dtype: .bool)
    let bytes = image(storages: [("h", half.bytes), ("b", brain.bytes), ("l", longs.bytes), ("f", flags.bytes),
                                 ("u", [9, 8, 7])]) { p in
      p.string("half"); p.tensor(storage: "HalfStorage", key: "h", count: 3, offset: 0, shape: [3], strides: [1])
      p.string("bf16"); p.tensor(storage: "BFloat16Storage", key: "b", count: 2, offset: 0, shape: [2], strides: [1])
      p.string("long"); p.tensor(storage: "LongStorage", key: "l", count: 2, offset: 0, shape: [2], strides: [1])
      p.string("bool"); p.tensor(storage: "BoolStorage", key: "f", count: 3, offset: 0, shape: [3], strides: [1])
      p.string("untyped"); p.tensor(storage: "UntypedStorage", key: "u", count: 3, offset: 1, shape: [2], strides: [1])
      p.string("dtype form"); p.tensor(storage: "float16", key: "h", count: 3, offset: 1, shape: [2], strides: [1])
      p.string("parameter")
      p.global("torch._utils", "_rebuild_parameter")
      p.mark()
      p.tensor(storage: "HalfStorage", key: "h", count: 3, offset: 0, shape: [3], strides: [1])
      p.bool(true)
      p.global("collections", "OrderedDict"); p.emptyTuple(); p.reduce()
      p.tuple()
      p.reduce()
      p.string("size")
      p.global("torch", "Size"); p.mark(); p.intTuple([2, 3]); p.tuple(); p.reduce()
      p.string("device")
      p.global("torch", "device"); p.mark(); p.string("cpu"); p.tuple(); p.reduce()
    }
    let checkpoint = try TorchCheckpoint(bytes: bytes)
    func read(_ name: String) throws -> TensorData { try checkpoint.read(try #require(checkpoint[name]?.tensorValue)) }
    #expect(try read("half") == half)
    #expect(try read("bf16") == brain)
    #expect(try read("long") == longs)
    #expect(try read("bool").int64s() == [1, 0, 1])
    #expect(try read("untyped") == TensorData(dtype: .u8, shape: [2], bytes: [8, 7]))
    #expect(try read("dtype form").floats() == [-2, 0.5])
    #expect(try read("parameter") == half)
    #expect(checkpoint["parameter"]?.tensorValue?.requiresGrad == true)
    #expect(checkpoint["half"]?.tensorValue?.requiresGrad == false)
    #expect(checkpoint["size"] == .tuple([.int(2), .int(3)]))
    #expect(checkpoint["device"] == .object(PickleObject(className: "torch.device", args: [.string("cpu")])))
  }

  @Test func containerErrors() throws {
    #expect(problem { _ = try TorchCheckpoint(bytes: Array("definitely not a zip archive".utf8)) }
      == .notAZip("no end-of-central-directory record"))
    #expect(problem { _ = try TorchCheckpoint(bytes: [1, 2, 3]) }
      == .notAZip("file is 3 bytes, too short for a zip end record"))
    let noPickle = TestZip.build([.init(name: "archive/version", data: [0x33])])
    #expect(problem { _ = try TorchCheckpoint(bytes: noPickle) } == .missingEntry("<archive>/data.pkl"))
    let compressed = TestZip.build([.init(name: "archive/data.pkl", data: [0x80, 2, 0x4E, 0x2E], method: 8)])
    #expect(problem { _ = try TorchCheckpoint(bytes: compressed) } == .unsupportedEntry(
      name: "archive/data.pkl", "compressed with method 8; torch.save writes stored (uncompressed) entries"))
    var corrupt = checkpointImage(pickle: [0x80, 2, 0x4E, 0x2E], storages: [], dataDescriptor: false)
    corrupt[30 + "archive/data.pkl".utf8.count + 4 + 2] ^= 0xFF  // flip a byte inside data.pkl
    #expect(problem { _ = try TorchCheckpoint(bytes: corrupt) } == .checksumMismatch(entry: "archive/data.pkl"))
    let bigEndian = TestZip.build([.init(name: "a/data.pkl", data: [0x80, 2, 0x4E, 0x2E]),
                                   .init(name: "a/byteorder", data: Array("big".utf8))])
    guard case .unsupportedEntry(name: "a/byteorder", _)? = problem({ _ = try TorchCheckpoint(bytes: bigEndian) }) else {
      Issue.record("big-endian checkpoint accepted")
      return
    }
    let missingFile = problem { _ = try TorchCheckpoint(url: URL(fileURLWithPath: "/nonexistent/t.ckpt")) }
    guard case .io? = missingFile else {
      Issue.record("missing file gave \(String(describing: missingFile))")
      return
    }
  }

  @Test func storageErrorsAreReportedWhenReading() throws {
    let bytes = image(storages: [("0", f32Bytes([1, 2]))]) { p in
      p.string("missing"); p.tensor(key: "9", count: 2, offset: 0, shape: [2], strides: [1])
      p.string("short"); p.tensor(key: "0", count: 4, offset: 0, shape: [4], strides: [1])
      p.string("repeats"); p.tensor(key: "0", count: 2, offset: 0, shape: [2, 2], strides: [1, 0])
    }
    let checkpoint = try TorchCheckpoint(bytes: bytes, name: "t.ckpt")
    func readProblem(_ name: String) throws -> TorchCheckpointError.Problem? {
      let ref = try #require(checkpoint[name]?.tensorValue)
      return problem { _ = try checkpoint.read(ref) }
    }
    #expect(try readProblem("missing") == .storageMissing(key: "9"))
    #expect(try readProblem("short") == .storageTooSmall(key: "0", needed: 16, available: 8))
    guard case .invalidTensor? = try readProblem("repeats") else {
      Issue.record("stride-0 view larger than its storage accepted")
      return
    }
    let text = String(describing: TorchCheckpointError(file: "t.ckpt", problem: .storageMissing(key: "9")))
    #expect(text == "t.ckpt: tensor storage \"9\" (data/9) is missing from the archive")
  }

  @Test func tensorRebuildErrorsAreReportedWhenOpening() throws {
    func openProblem(_ body: (inout PickleAssembler) -> Void) -> TorchCheckpointError.PickleProblem? {
      guard case .pickle(_, let inner)? = problem({ _ = try TorchCheckpoint(bytes: image(storages: [], body)) }) else {
        return nil
      }
      return inner
    }
    guard case .invalidTensor? = openProblem({ p in
      p.string("past end"); p.tensor(key: "0", count: 4, offset: 3, shape: [2], strides: [1])
    }) else { Issue.record("view past the declared storage accepted"); return }
    guard case .invalidTensor? = openProblem({ p in
      p.string("huge"); p.tensor(key: "0", count: 4, offset: 0, shape: [1 << 30, 1 << 30, 1 << 30], strides: [1, 1, 1])
    }) else { Issue.record("overflowing shape accepted"); return }
    guard case .invalidTensor? = openProblem({ p in
      p.string("negative"); p.tensor(key: "0", count: 4, offset: 0, shape: [-1], strides: [1])
    }) else { Issue.record("negative size accepted"); return }
    #expect(openProblem({ p in
      p.string("complex"); p.tensor(storage: "ComplexFloatStorage", key: "0", count: 4, offset: 0, shape: [1], strides: [1])
    }) == .unsupportedDType("torch.ComplexFloatStorage"))
    #expect(openProblem({ p in
      p.string("not torch"); p.tensor(storage: "FloatStorage", key: "0", count: 4, offset: 0, shape: [1], strides: [1],
                                      module: "evil")
    }) == .unsupportedDType("global evil.FloatStorage"))
  }
}
