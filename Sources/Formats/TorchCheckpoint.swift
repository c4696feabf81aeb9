import Foundation

/// A checkpoint written by `torch.save` (the zip format of torch ≥ 1.6), decoded without Python.
///
/// The archive holds `<archive>/data.pkl`, a pickle of the saved object, and one entry
/// `<archive>/data/<key>` per tensor storage. Opening decodes the pickle into `root`; tensors in
/// it are `TorchTensorRef`s whose bytes `read(_:)` fetches from the archive on demand.
///
/// Only the tensor rebuild functions, `OrderedDict`/`dict` and a few other harmless constructors
/// are interpreted; every other class in the pickle becomes an inert `PickleObject`. Nothing in
/// the file is executed.
public struct TorchCheckpoint: Sendable {
  /// The decoded `data.pkl`.
  public let root: PickleValue
  /// The archive's folder name (`"archive"` or, for Lightning files, usually the file stem).
  public let archiveName: String
  /// The path (or label) used in error messages.
  public var fileName: String { archive.source.name }

  private let archive: ZipArchive
  /// Whether tensor reads check their storage entry's CRC-32; off only in tests of multi-GB sparse
  /// files, whose checksum would take a debug build minutes to compute.
  private let checksEntries: Bool

  /// Opens a checkpoint file, reading only its directory and pickle.
  public init(url: URL, limits: PickleLimits = PickleLimits()) throws {
    let source: FileByteSource
    do { source = try FileByteSource(url: url) } catch {
      throw TorchCheckpointError(file: url.path, problem: .io(String(describing: error)))
    }
    try self.init(source: source, limits: limits)
  }

  /// Decodes a checkpoint image held in memory; `name` labels errors.
  public init(bytes: [UInt8], name: String = "<memory>", limits: PickleLimits = PickleLimits()) throws {
    try self.init(source: MemoryByteSource(bytes: bytes, name: name), limits: limits)
  }

  init(source: any ByteSource, limits: PickleLimits, checksEntries: Bool = true) throws {
    self.checksEntries = checksEntries
    do {
      let archive = try ZipArchive(source: source)
      // torch names the pickle `<archive>/data.pkl`, with a single folder level.
      guard let pickleEntry = archive.entries.first(where: {
        $0.name.hasSuffix("/data.pkl") && $0.name.dropLast("/data.pkl".count).allSatisfy { $0 != "/" }
      }) ?? archive.entry("data.pkl") else {
        throw TorchCheckpointError.Problem.missingEntry("<archive>/data.pkl")
      }
      let prefix = String(pickleEntry.name.dropLast("data.pkl".count))
      if let byteOrder = archive.entry(prefix + "byteorder") {
        let text = String(decoding: try archive.readAll(byteOrder), as: UTF8.self)
        guard text == "little" else {
          throw TorchCheckpointError.Problem.unsupportedEntry(name: byteOrder.name, "byte order \"\(text.prefix(20))\"; only little-endian checkpoints are supported")
        }
      }
      let pickle = try archive.readAll(pickleEntry)
      do {
        root = try Unpickler.decode(pickle, limits: limits)
      } catch let failure as Unpickler.Failure {
        throw TorchCheckpointError.Problem.pickle(offset: failure.offset, failure.problem)
      }
      self.archive = archive
      archiveName = String(prefix.dropLast())
    } catch let problem as TorchCheckpointError.Problem {
      throw TorchCheckpointError(file: source.name, problem: problem)
    }
  }

  /// Looks a key up in the root dict (`checkpoint["state_dict"]`).
  public subscript(key: String) -> PickleValue? { root[key] }

  /// Reads one tensor's data from its storage entry: only the byte span the view covers, then
  /// gathered into contiguous row-major order if the view is strided. The entry's CRC-32 is checked
  /// the first time it is read; a mismatch throws `checksumMismatch` (the checkpoint is corrupt).
  ///
  /// Views that repeat elements (stride 0, overlapping strides) and so hold more elements than
  /// the span they cover are refused, which bounds every allocation by the file's size.
  public func read(_ tensor: TorchTensorRef) throws -> TensorData {
    do {
      return try readView(tensor)
    } catch let problem as TorchCheckpointError.Problem {
      throw TorchCheckpointError(file: fileName, problem: problem)
    }
  }

  /// Reads every tensor directly inside `value` (see `PickleValue.namedTensors`).
  public func readTensors(in value: PickleValue) throws -> [(name: String, tensor: TensorData)] {
    try value.namedTensors.map { ($0.name, try read($0.tensor)) }
  }

  /// Storage keys present in the archive, in archive order.
  public var storageKeys: [String] {
    let folder = archiveName.isEmpty ? "data/" : archiveName + "/data/"
    return archive.entries.compactMap { $0.name.hasPrefix(folder) ? String($0.name.dropFirst(folder.count)) : nil }
  }

  /// Checks the CRC-32 of every entry, reading in bounded chunks. (Opening checks only
  /// `data.pkl`; a tensor read checks the entry of its storage the first time it reads it.)
  public func verifyChecksums() throws {
    do {
      for entry in archive.entries { try archive.verifyChecksum(entry) }
    } catch let problem as TorchCheckpointError.Problem {
      throw TorchCheckpointError(file: fileName, problem: problem)
    }
  }

  private func readView(_ tensor: TorchTensorRef) throws -> TensorData {
    typealias Problem = TorchCheckpointError.Problem
    let entryName = (archiveName.isEmpty ? "" : archiveName + "/") + "data/" + tensor.storageKey
    guard let entry = archive.entry(entryName) else { throw Problem.storageMissing(key: tensor.storageKey) }
    let elementSize = tensor.dtype.elementSize
    guard tensor.shape.count == tensor.strides.count, let count = TensorData.elementCount(of: tensor.shape) else {
      throw Problem.invalidTensor("shape \(tensor.shape) and strides \(tensor.strides) are inconsistent")
    }
    if count == 0 { return try TensorData(dtype: tensor.dtype, shape: tensor.shape, bytes: []) }
    guard let last = TensorView.lastElementIndex(shape: tensor.shape, strides: tensor.strides, offset: tensor.storageOffset),
          tensor.storageOffset >= 0 else {
      throw Problem.invalidTensor("view of shape \(tensor.shape) and strides \(tensor.strides) overflows")
    }
    // Bytes from the view's first to its last element.
    let (endElements, o1) = last.addingReportingOverflow(1)
    let (endBytes, o2) = endElements.multipliedReportingOverflow(by: elementSize)
    let overflow = o1 || o2
    guard !overflow, endBytes <= entry.size else {
      throw Problem.storageTooSmall(key: tensor.storageKey, needed: overflow ? Int.max : endBytes, available: entry.size)
    }
    let spanElements = endElements - tensor.storageOffset
    guard count <= spanElements else {
      throw Problem.invalidTensor("view of shape \(tensor.shape) with strides \(tensor.strides) repeats storage elements; "
        + "such views are not supported")
    }
    let (start, length) = (tensor.storageOffset * elementSize, spanElements * elementSize)
    let span = checksEntries ? try archive.readVerified(entry, at: start, count: length)
                             : try archive.read(entry, at: start, count: length)
    let bytes = tensor.isContiguous
      ? span
      : TensorView.gather(span, elementSize: elementSize, shape: tensor.shape, strides: tensor.strides,
                          offset: tensor.storageOffset, base: tensor.storageOffset, elementCount: count)
    return try TensorData(dtype: tensor.dtype, shape: tensor.shape, bytes: bytes)
  }
}
