// Typed N-dimensional datasets: whole and row-range reads and writes, appends, resizing.
import CHDF5

/// How a chunked dataset is compressed.
public enum H5Compression: Equatable, Sendable {
  /// Stored as is.
  case none
  /// gzip (deflate) at `level` 1...9; `shuffle` regroups the bytes of each element first, which
  /// makes numbers compress much better (h5py's `shuffle=True`).
  case deflate(level: Int = 4, shuffle: Bool = true)
}

/// What `H5Container.datasetInfo(_:)` reports about a dataset without opening it for a type.
public struct H5DatasetInfo: Equatable, Sendable {
  /// The element type, or nil if it is none of `H5ElementType` (then `typeName` says what it is).
  public let elementType: H5ElementType?
  public let typeName: String
  public let shape: [Int]
  /// The chunk shape, nil for contiguous datasets.
  public let chunkShape: [Int]?
  /// Whether the first axis can grow without limit.
  public let isExtendible: Bool
}

/// A dataset whose elements are `Element`, opened with its element type checked.
///
/// Rows are the slices along the first axis: a dataset of shape `[n, 128]` has `n` rows of 128
/// elements. Buffers are flat, row-major (C order), like the file layout.
///
/// Thread safety: may be shared between threads; calls are serialized (see `H5Library`).
public final class H5Dataset<Element: H5Element>: @unchecked Sendable {
  /// The file the dataset is in (kept open while the dataset is alive).
  public let file: H5File
  /// The dataset's absolute HDF5 path.
  public let name: String
  /// The shape of one row (all axes but the first). Only the first axis ever changes.
  public let rowShape: [Int]
  /// Elements in one row: the product of `rowShape`.
  public let elementsPerRow: Int
  /// The chunk shape, nil for contiguous datasets (which cannot be resized).
  public let chunkShape: [Int]?
  /// The largest row count the first axis may reach; nil if unlimited (extendible datasets).
  public let maxRows: Int?
  /// Whether chunks pass through filters (compression, shuffle, ...). A filtered chunk is
  /// re-allocated whenever it is rewritten, which matters for crash safety (`H5ResumableWriter`).
  public let isFiltered: Bool

  let handle: H5Handle

  init(file: H5File, name: String, id: hid_t, context: H5Context) throws {
    let handle = H5Handle(id, closer: H5Dclose)
    let space = H5Temporary(try context.checkID(H5Dget_space(id), "cannot get the dataspace"),
                            H5Sclose)
    let (dims, maxDims) = try H5Dataspace.extent(space.id, context)
    guard !dims.isEmpty else {
      throw context.error("scalar datasets are not supported", kind: .invalidArgument)
    }
    self.file = file
    self.name = name
    self.handle = handle
    self.rowShape = Array(dims.dropFirst())
    self.elementsPerRow = rowShape.reduce(1, *)
    self.maxRows = maxDims[0]
    self.chunkShape = try H5Dataspace.chunkShape(of: id, context)
    self.isFiltered = try H5Dataspace.filterCount(of: id, context) > 0
  }

  deinit { flushAndClose() }

  /// Closes the dataset now instead of when it is released. Further use throws `.closed`.
  public func close() { flushAndClose() }

  /// Writes the dataset's buffered chunks, then closes it. Flushing first matters when writes
  /// fail: a failed flush cuts the file off (H5WriteFailure.swift), whereas an H5Dclose that fails
  /// to flush leaves a dangling identifier that crashes the next close of the file.
  private func flushAndClose() {
    H5Library.serialized {
      let id = handle.id
      if id >= 0, file.writeFailure == nil, file.isWritable, H5Iis_valid(id) > 0, H5Dflush(id) < 0 {
        let error = context("close dataset").error("cannot write the dataset's buffered data", kind: .library,
                                                   readStack: true)
        file.cutOff(after: error.systemCause ?? error.message)
      }
      // A file cut off after a failed write must not be touched again, not even to close.
      if file.writeFailure != nil { handle.abandon() } else { handle.close() }
    }
  }

  /// The current shape: `[rowCount] + rowShape`.
  public var shape: [Int] {
    get throws {
      try H5Library.serialized {
        let context = self.context("get shape")
        let space = H5Temporary(try context.checkID(H5Dget_space(try liveID(context)),
                                                    "cannot get the dataspace"), H5Sclose)
        return try H5Dataspace.extent(space.id, context).dims
      }
    }
  }

  /// The current number of rows (the first axis).
  public var rowCount: Int { get throws { try shape[0] } }

  /// Whether the first axis can grow without limit (`append` works).
  public var isExtendible: Bool { maxRows == nil }

  /// Attributes of this dataset.
  public var attributes: H5Attributes { H5Attributes(file: file, objectPath: name) }

  // MARK: Writing

  /// Writes the whole dataset; `values.count` must equal the number of elements of `shape`.
  public func write(_ values: UnsafeBufferPointer<Element>) throws {
    try H5Library.serialized {
      let rows = try rowCount
      let context = self.context("write")
      guard values.count == rows * elementsPerRow else {
        throw context.error("\(values.count) values given, the dataset of shape \(try shape) "
                              + "has \(rows * elementsPerRow)", kind: .shapeMismatch)
      }
      try transfer(rows: 0..<rows, writing: values.baseAddress, context)
    }
  }

  /// Writes the whole dataset; `values.count` must equal the number of elements of `shape`.
  public func write(_ values: [Element]) throws {
    try values.withUnsafeBufferPointer { try write($0) }
  }

  /// Writes whole rows starting at row `start`: rows `start ..< start + values.count /
  /// elementsPerRow`, which must lie inside the current shape (use `append` to grow).
  public func write(_ values: UnsafeBufferPointer<Element>, atRow start: Int) throws {
    try H5Library.serialized {
      let context = self.context("write rows")
      let count = try rowsIn(values.count, context)
      try transfer(rows: start..<(start + count), writing: values.baseAddress, context)
    }
  }

  /// Writes whole rows starting at row `start` (see the buffer version).
  public func write(_ values: [Element], atRow start: Int) throws {
    try values.withUnsafeBufferPointer { try write($0, atRow: start) }
  }

  /// Extends the first axis and writes `values` (whole rows) at the end. Returns the rows
  /// written. Only for datasets created `extendible` (or chunked with room up to `maxRows`).
  ///
  /// Appended rows are in HDF5's caches until `H5File.flush()`; see `H5ResumableWriter` for
  /// appends that survive a killed process.
  @discardableResult
  public func append(_ values: UnsafeBufferPointer<Element>) throws -> Range<Int> {
    try H5Library.serialized {
      let context = self.context("append rows")
      let count = try rowsIn(values.count, context)
      let start = try rowCount
      let rows = start..<(start + count)
      if count == 0 { return rows }
      try setRowCount(rows.upperBound, context)
      do {
        try transfer(rows: rows, writing: values.baseAddress, context)
      } catch {
        try? setRowCount(start, context)  // do not leave fill-value rows behind
        throw error
      }
      return rows
    }
  }

  /// Appends whole rows (see the buffer version).
  @discardableResult
  public func append(_ values: [Element]) throws -> Range<Int> {
    try values.withUnsafeBufferPointer { try append($0) }
  }

  /// Changes the number of rows. Shrinking drops the rows past `rows` (e.g. a partially written
  /// tail on resume); growing adds rows of zeros. Only for chunked datasets, up to `maxRows`.
  public func resize(rows: Int) throws {
    try H5Library.serialized { try setRowCount(rows, context("resize")) }
  }

  // MARK: Reading

  /// Reads the whole dataset, flat in row-major order.
  public func read() throws -> [Element] {
    try H5Library.serialized { try read(rows: 0..<(try rowCount)) }
  }

  /// Reads the rows `rows` into a new array of `rows.count * elementsPerRow` elements.
  public func read(rows: Range<Int>) throws -> [Element] {
    try H5Library.serialized {
      var values = [Element](repeating: Element.h5Zero, count: rows.count * elementsPerRow)
      try values.withUnsafeMutableBufferPointer { _ = try read(rows: rows, into: $0) }
      return values
    }
  }

  /// Reads the rows `rows` into the start of `buffer`, which must hold at least
  /// `rows.count * elementsPerRow` elements; the rest of it is left untouched. Returns the number
  /// of elements written. Allocates nothing, so a reader can reuse one buffer for every batch.
  @discardableResult
  public func read(rows: Range<Int>, into buffer: UnsafeMutableBufferPointer<Element>) throws -> Int {
    try H5Library.serialized {
      let context = self.context("read rows")
      let needed = rows.count * elementsPerRow
      guard buffer.count >= needed else {
        throw context.error("the buffer holds \(buffer.count) elements, \(rows.count) rows need "
                              + "\(needed)", kind: .shapeMismatch)
      }
      try transfer(rows: rows, reading: buffer.baseAddress, context)
      return needed
    }
  }

  /// Reads the rows `rows` into the start of `array` (see the buffer version).
  @discardableResult
  public func read(rows: Range<Int>, into array: inout [Element]) throws -> Int {
    try array.withUnsafeMutableBufferPointer { try read(rows: rows, into: $0) }
  }

  // MARK: Internals (called with the library lock held)

  private func context(_ operation: String) -> H5Context {
    H5Context(operation: operation, path: file.path, object: name)
  }

  /// The dataset identifier; throws `.closed` if the dataset or its file was closed.
  private func liveID(_ context: H5Context) throws -> hid_t {
    _ = try file.openID(context)
    let id = handle.id
    guard id >= 0 else { throw context.error("the dataset was closed", kind: .closed) }
    return id
  }

  /// The number of whole rows in `count` elements.
  private func rowsIn(_ count: Int, _ context: H5Context) throws -> Int {
    guard elementsPerRow > 0 else {
      throw context.error("rows of shape \(rowShape) hold no elements", kind: .invalidArgument)
    }
    guard count % elementsPerRow == 0 else {
      throw context.error("\(count) values are not whole rows of \(elementsPerRow) elements "
                            + "(row shape \(rowShape))", kind: .shapeMismatch)
    }
    return count / elementsPerRow
  }

  private func setRowCount(_ rows: Int, _ context: H5Context) throws {
    try file.requireWritable(context)
    let id = try liveID(context)
    guard rows >= 0 else { throw context.error("negative row count \(rows)", kind: .invalidArgument) }
    guard chunkShape != nil else {
      throw context.error("a contiguous (not chunked) dataset cannot change shape; create it "
                            + "extendible", kind: .invalidArgument)
    }
    if let maxRows, rows > maxRows {
      throw context.error("\(rows) rows exceed the maximum of \(maxRows); create the dataset "
                            + "extendible", kind: .shapeMismatch)
    }
    let dims = ([rows] + rowShape).map { hsize_t($0) }
    try context.check(H5Dset_extent(id, dims), "cannot change the extent to \(rows) rows")
  }

  private func transfer(rows: Range<Int>, writing values: UnsafePointer<Element>?,
                        _ context: H5Context) throws {
    try file.requireWritable(context)
    try transfer(rows: rows, context) { id, type, memory, selection in
      H5Dwrite(id, type, memory, selection, pgm_h5p_default(), values)
    }
  }

  private func transfer(rows: Range<Int>, reading values: UnsafeMutablePointer<Element>?,
                        _ context: H5Context) throws {
    try transfer(rows: rows, context) { id, type, memory, selection in
      H5Dread(id, type, memory, selection, pgm_h5p_default(), values)
    }
  }

  /// Selects `rows` in the file and a matching memory space, then runs the read or write.
  private func transfer(rows: Range<Int>, _ context: H5Context,
                        _ io: (hid_t, hid_t, hid_t, hid_t) -> herr_t) throws {
    let id = try liveID(context)
    let fileSpace = H5Temporary(try context.checkID(H5Dget_space(id), "cannot get the dataspace"),
                                H5Sclose)
    let total = try H5Dataspace.extent(fileSpace.id, context).dims[0]
    guard rows.lowerBound >= 0, rows.upperBound <= total else {
      throw context.error("rows \(rows) are outside the dataset's \(total) rows",
                          kind: .shapeMismatch)
    }
    if rows.isEmpty || elementsPerRow == 0 { return }
    let start = [hsize_t(rows.lowerBound)] + rowShape.map { _ in hsize_t(0) }
    let count = ([rows.count] + rowShape).map { hsize_t($0) }
    try context.check(H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, start, nil, count, nil),
                      "cannot select rows \(rows)")
    let memory = H5Temporary(try context.checkID(H5Screate_simple(Int32(count.count), count, nil),
                                                 "cannot create the memory dataspace"), H5Sclose)
    try context.check(io(id, Element.h5Type.nativeType, memory.id, fileSpace.id),
                      "cannot transfer rows \(rows)")
  }
}

/// Creating and opening datasets in a file or group.
extension H5Container {
  /// Creates a dataset of `shape` holding `Element`s (zeros until written). Intermediate groups
  /// of `path` are created; the dataset itself must not exist yet (`.alreadyExists`).
  ///
  /// - Parameters:
  ///   - extendible: the first axis can then grow without limit (`append`) and shrink (`resize`).
  ///   - chunkShape: the chunk shape (same rank as `shape`). Extendible and compressed datasets
  ///     are always chunked; when nil, a chunk of whole rows of about 1 MiB is chosen. Appends
  ///     that add whole chunks are the fastest and, for crash safety, the most robust.
  ///   - compression: `.deflate(...)` compresses each chunk; throws `.filterUnavailable` if this
  ///     HDF5 build has no deflate filter.
  @discardableResult
  public func createDataset<Element: H5Element>(
    _ path: String, of type: Element.Type, shape: [Int], extendible: Bool = false,
    chunkShape: [Int]? = nil, compression: H5Compression = .none
  ) throws -> H5Dataset<Element> {
    let full = try resolve(path, operation: "create dataset")
    return try H5Library.serialized {
      let context = H5Context(operation: "create dataset", path: file.path, object: full)
      try file.requireWritable(context)
      let fileID = try file.openID(context)
      guard !shape.isEmpty, shape.allSatisfy({ $0 >= 0 }) else {
        throw context.error("shape \(shape) must have rank >= 1 and no negative size",
                            kind: .invalidArgument)
      }
      if try H5Paths.exists(full, in: fileID) {
        throw context.error("an object with this name already exists", kind: .alreadyExists)
      }
      let dcpl = H5Temporary(try context.checkID(H5Pcreate(pgm_h5p_dataset_create()),
                                                 "cannot create dataset properties"), H5Pclose)
      // No modification times in object headers: the same data gives the same file bytes.
      try context.check(H5Pset_obj_track_times(dcpl.id, false), "cannot turn off time tracking")
      let chunked = extendible || chunkShape != nil || compression != .none
      if chunked {
        let chunk = try chunkShape ?? H5Dataspace.defaultChunk(
          shape: shape, elementSize: Element.h5Type.byteCount, extendible: extendible, context)
        try H5Dataspace.validate(chunk: chunk, shape: shape, extendible: extendible, context)
        try context.check(H5Pset_chunk(dcpl.id, Int32(chunk.count), chunk.map { hsize_t($0) }),
                          "cannot set the chunk shape \(chunk)")
      }
      if case .deflate(let level, let shuffle) = compression {
        guard (1...9).contains(level) else {
          throw context.error("deflate level \(level) is not in 1...9", kind: .invalidArgument)
        }
        guard H5Library.filterCanEncode(H5Z_filter_t(H5Z_FILTER_DEFLATE)) else {
          throw context.error("the deflate (gzip) filter is not available in this HDF5 build",
                              kind: .filterUnavailable)
        }
        if shuffle {
          try context.check(H5Pset_shuffle(dcpl.id), "cannot add the shuffle filter")
        }
        try context.check(H5Pset_deflate(dcpl.id, UInt32(level)), "cannot add the deflate filter")
      }
      let dims = shape.map { hsize_t($0) }
      var maxDims = dims
      if extendible { maxDims[0] = pgm_h5s_unlimited() }
      let space = H5Temporary(try context.checkID(H5Screate_simple(Int32(dims.count), dims, maxDims),
                                                  "cannot create the dataspace"), H5Sclose)
      let lcpl = try H5Paths.intermediateGroupsProperties(context)
      let dapl = try H5Dataspace.accessProperties(context)
      let id = try context.checkID(
        H5Dcreate2(fileID, full, Element.h5Type.nativeType, space.id, lcpl.id, dcpl.id, dapl.id),
        "cannot create the dataset")
      return try H5Dataset(file: file, name: full, id: id, context: context)
    }
  }

  /// Opens an existing dataset, checking that it holds `Element`s: reading an int32 dataset as
  /// `Float` throws `.typeMismatch`. Throws `.notFound` if there is no dataset at `path`.
  public func openDataset<Element: H5Element>(_ path: String, of type: Element.Type) throws
    -> H5Dataset<Element>
  {
    let full = try resolve(path, operation: "open dataset")
    return try H5Library.serialized {
      let context = H5Context(operation: "open dataset", path: file.path, object: full)
      let fileID = try file.openID(context)
      guard try H5Paths.kind(of: full, in: fileID) == .dataset else {
        throw context.error("no dataset with this name", kind: .notFound)
      }
      let dapl = try H5Dataspace.accessProperties(context)
      let id = try context.checkID(H5Dopen2(fileID, full, dapl.id), "cannot open the dataset")
      let dataset = try H5Dataset<Element>(file: file, name: full, id: id, context: context)
      let stored = H5Temporary(try context.checkID(H5Dget_type(id), "cannot get the datatype"),
                               H5Tclose)
      guard H5ElementType.classify(stored.id) == Element.h5Type else {
        throw context.error("the dataset holds \(H5ElementType.describe(stored.id)) values, "
                              + "not \(Element.h5Type.rawValue) (\(Element.self))",
                            kind: .typeMismatch)
      }
      return dataset
    }
  }

  /// Element type, shape and layout of the dataset at `path`.
  public func datasetInfo(_ path: String) throws -> H5DatasetInfo {
    let full = try resolve(path, operation: "inspect dataset")
    return try H5Library.serialized {
      let context = H5Context(operation: "inspect dataset", path: file.path, object: full)
      let fileID = try file.openID(context)
      guard try H5Paths.kind(of: full, in: fileID) == .dataset else {
        throw context.error("no dataset with this name", kind: .notFound)
      }
      let dataset = H5Temporary(try context.checkID(H5Dopen2(fileID, full, pgm_h5p_default()),
                                                    "cannot open the dataset"), H5Dclose)
      let type = H5Temporary(try context.checkID(H5Dget_type(dataset.id), "cannot get the type"),
                             H5Tclose)
      let space = H5Temporary(try context.checkID(H5Dget_space(dataset.id), "cannot get the space"),
                              H5Sclose)
      let (dims, maxDims) = try H5Dataspace.extent(space.id, context)
      return H5DatasetInfo(elementType: H5ElementType.classify(type.id),
                           typeName: H5ElementType.describe(type.id), shape: dims,
                           chunkShape: try H5Dataspace.chunkShape(of: dataset.id, context),
                           isExtendible: !maxDims.isEmpty && maxDims[0] == nil)
    }
  }
}

/// Dataspace and layout helpers. Call with the library lock held.
enum H5Dataspace {
  /// Current and maximum dimensions; a nil maximum is unlimited.
  static func extent(_ space: hid_t, _ context: H5Context) throws -> (dims: [Int], maxDims: [Int?]) {
    let rank = Int(try context.check(H5Sget_simple_extent_ndims(space), "cannot get the rank"))
    var dims = [hsize_t](repeating: 0, count: rank)
    var maxDims = [hsize_t](repeating: 0, count: rank)
    try context.check(H5Sget_simple_extent_dims(space, &dims, &maxDims), "cannot get the dimensions")
    let unlimited = pgm_h5s_unlimited()
    return (dims.map { Int($0) }, maxDims.map { $0 == unlimited ? nil : Int($0) })
  }

  /// The chunk shape of a dataset, nil if it is not chunked.
  static func chunkShape(of dataset: hid_t, _ context: H5Context) throws -> [Int]? {
    let dcpl = H5Temporary(try context.checkID(H5Dget_create_plist(dataset),
                                               "cannot get the creation properties"), H5Pclose)
    guard H5Pget_layout(dcpl.id) == H5D_CHUNKED else { return nil }
    var chunk = [hsize_t](repeating: 0, count: 32)  // H5S_MAX_RANK
    let rank = Int(H5Pget_chunk(dcpl.id, Int32(chunk.count), &chunk))
    guard rank > 0 else { throw context.error("cannot get the chunk shape", kind: .library, readStack: true) }
    return chunk.prefix(rank).map { Int($0) }
  }

  /// The number of filters in a dataset's pipeline (0 for contiguous or unfiltered datasets).
  static func filterCount(of dataset: hid_t, _ context: H5Context) throws -> Int {
    let dcpl = H5Temporary(try context.checkID(H5Dget_create_plist(dataset),
                                               "cannot get the creation properties"), H5Pclose)
    return Int(try context.check(H5Pget_nfilters(dcpl.id), "cannot count the filters"))
  }

  /// Whole rows (all axes but the first in full), about 1 MiB per chunk.
  static func defaultChunk(shape: [Int], elementSize: Int, extendible: Bool,
                           _ context: H5Context) throws -> [Int] {
    let rowShape = Array(shape.dropFirst())
    guard rowShape.allSatisfy({ $0 > 0 }) else {
      throw context.error("a chunked dataset needs non-empty rows, got shape \(shape)",
                          kind: .invalidArgument)
    }
    let rowBytes = rowShape.reduce(elementSize, *)
    var rows = max(1, (1 << 20) / rowBytes)
    if !extendible { rows = min(rows, max(1, shape[0])) }
    return [rows] + rowShape
  }

  static func validate(chunk: [Int], shape: [Int], extendible: Bool, _ context: H5Context) throws {
    guard chunk.count == shape.count, chunk.allSatisfy({ $0 > 0 }) else {
      throw context.error("chunk shape \(chunk) must have the rank of \(shape) and positive sizes",
                          kind: .invalidArgument)
    }
    for axis in chunk.indices where !(axis == 0 && extendible) && chunk[axis] > shape[axis] {
      throw context.error("chunk shape \(chunk) exceeds the fixed shape \(shape) on axis \(axis)",
                          kind: .invalidArgument)
    }
    if chunk.reduce(1, *) > (1 << 32) - 1 {
      throw context.error("chunk shape \(chunk) holds more than 4 GiB", kind: .invalidArgument)
    }
  }

  /// Dataset access properties: a 32 MiB chunk cache (HDF5's default is 1 MiB, too small to keep
  /// even one of our ~1 MiB compressed chunks decompressed between two row-range reads).
  static func accessProperties(_ context: H5Context) throws -> H5Temporary {
    let dapl = H5Temporary(try context.checkID(H5Pcreate(pgm_h5p_dataset_access()),
                                               "cannot create dataset access properties"), H5Pclose)
    try context.check(H5Pset_chunk_cache(dapl.id, 10007, 32 << 20, 0.75),
                      "cannot set the chunk cache")
    return dapl
  }
}
