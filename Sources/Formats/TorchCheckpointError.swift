/// Why a `torch.save` checkpoint could not be read. `file` names the checkpoint; the problem
/// names the entry, pickle byte offset or storage concerned.
public struct TorchCheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The checkpoint's path (or label).
  public let file: String
  /// What is wrong, and where inside the file.
  public let problem: Problem

  /// The kinds of problem.
  public enum Problem: Error, Equatable, Sendable {
    /// No ZIP end-of-central-directory record: not a zip archive (or a pre-1.6 torch file).
    case notAZip(String)
    /// The ZIP structures are inconsistent (offsets outside the file, bad signatures, ...).
    case malformedZip(String)
    /// The entry exists but is stored in a way this reader does not handle (compressed,
    /// encrypted, big-endian tensors).
    case unsupportedEntry(name: String, String)
    /// A required entry such as `<archive>/data.pkl` is absent.
    case missingEntry(String)
    /// The entry's bytes do not match the CRC-32 its central-directory record holds: the file was
    /// damaged after torch wrote it.
    case checksumMismatch(entry: String)
    /// Reading the file failed.
    case io(String)
    /// The pickle program is malformed or uses something this reader refuses.
    case pickle(offset: Int, PickleProblem)
    /// A tensor refers to a storage whose `data/<key>` entry is absent.
    case storageMissing(key: String)
    /// The storage entry holds fewer bytes than the tensor's view needs.
    case storageTooSmall(key: String, needed: Int, available: Int)
    /// The tensor's shape, strides or offset cannot be read as asked.
    case invalidTensor(String)
  }

  /// What went wrong inside the pickle program.
  public enum PickleProblem: Equatable, Sendable {
    /// The data ends inside this opcode's argument.
    case truncated(opcode: String)
    /// The data ends without a STOP opcode.
    case missingStop
    case unknownOpcode(UInt8)
    case unsupportedProtocol(Int)
    case stackUnderflow(opcode: String)
    case missingMark(opcode: String)
    case memoMiss(index: Int)
    /// An argument has the wrong type or value.
    case invalidArgument(opcode: String, String)
    /// A valid but unsupported feature (protocol-0 strings, out-of-band buffers, extensions).
    case unsupported(opcode: String, String)
    /// A tensor rebuild call with inconsistent arguments.
    case invalidTensor(String)
    /// A storage of a type this module cannot represent.
    case unsupportedDType(String)
    /// A resource bound (nesting depth, value count, work) was hit.
    case limitExceeded(String)
  }

  /// Builds an error (callers outside the module may wrap their own checks in it).
  public init(file: String, problem: Problem) {
    self.file = file
    self.problem = problem
  }

  public var description: String { "\(file): \(problem.explanation)" }
}

extension TorchCheckpointError.Problem {
  var explanation: String {
    switch self {
    case .notAZip(let why): return "not a torch.save zip archive (the pre-1.6 legacy format is not supported): \(why)"
    case .malformedZip(let why): return "malformed zip archive: \(why)"
    case let .unsupportedEntry(name, why): return "entry \(name): \(why)"
    case .missingEntry(let name): return "the archive has no entry \(name)"
    case .checksumMismatch(let name):
      return "the checkpoint is corrupt: entry \(name) fails its CRC-32 check (its bytes changed after the file "
        + "was written); restore or re-download the file"
    case .io(let why): return why
    case let .pickle(offset, problem): return "data.pkl at byte \(offset): \(problem.explanation)"
    case .storageMissing(let key): return "tensor storage \"\(key)\" (data/\(key)) is missing from the archive"
    case let .storageTooSmall(key, needed, available):
      return "tensor storage \"\(key)\" holds \(available) bytes but the tensor's view needs \(needed)"
    case .invalidTensor(let why): return "cannot read tensor: \(why)"
    }
  }
}

extension TorchCheckpointError.PickleProblem {
  var explanation: String {
    switch self {
    case .truncated(let op): return "data ends inside \(op)"
    case .missingStop: return "data ends without STOP"
    case .unknownOpcode(let byte): return "unknown opcode 0x\(String(byte, radix: 16))"
    case .unsupportedProtocol(let v): return "unsupported pickle protocol \(v)"
    case .stackUnderflow(let op): return "\(op) needs more values than the stack holds"
    case .missingMark(let op): return "\(op) without a preceding MARK"
    case .memoMiss(let index): return "memo entry \(index) was never stored"
    case let .invalidArgument(op, why): return "\(op): \(why)"
    case let .unsupported(op, why): return "\(op) is not supported: \(why)"
    case .invalidTensor(let why): return "invalid tensor: \(why)"
    case .unsupportedDType(let what): return "unsupported tensor storage type \(what)"
    case .limitExceeded(let why): return "limit exceeded: \(why)"
    }
  }
}

/// The pickle machine throws a bare problem; `Unpickler.decode` attaches the byte offset.
extension TorchCheckpointError.PickleProblem: Error {}
