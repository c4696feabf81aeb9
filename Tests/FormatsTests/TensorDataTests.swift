import Testing
@testable import Formats

@Suite struct TensorDataTests {
  @Test func rejectsBytesThatDoNotMatchTheShape() {
    #expect(throws: TensorDataError.byteCountMismatch(shape: [2, 3], dtype: .f32, expected: 24, actual: 20)) {
      try TensorData(dtype: .f32, shape: [2, 3], bytes: [UInt8](repeating: 0, count: 20))
    }
    #expect(throws: TensorDataError.invalidShape([-1])) { try TensorData(dtype: .u8, shape: [-1], bytes: []) }
    #expect(throws: TensorDataError.invalidShape([Int.max, 2])) { try TensorData(dtype: .u8, shape: [Int.max, 2], bytes: []) }
  }

  @Test func scalarAndEmptyShapes() throws {
    let scalar = try TensorData(floats: [2.5], shape: [])
    #expect(scalar.elementCount == 1)
    #expect(try scalar.floats() == [2.5])
    let empty = try TensorData(int64s: [], shape: [3, 0])
    #expect(empty.bytes.isEmpty)
    #expect(try empty.int64s() == [])
  }

  @Test func bytesAreLittleEndian() throws {
    let t = try TensorData(int64s: [1, -2], shape: [2], dtype: .i32)
    #expect(t.bytes == [1, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF])
    let f = try TensorData(floats: [1], shape: [1], dtype: .bf16)
    #expect(f.bytes == [0x80, 0x3F])
  }

  @Test func conversionsRejectTheWrongKindAndOutOfRangeValues() {
    #expect(throws: TensorDataError.self) { try TensorData(int64s: [1], shape: [1]).floats() }
    #expect(throws: TensorDataError.self) { try TensorData(floats: [1], shape: [1]).int64s() }
    #expect(throws: TensorDataError.valueOutOfRange(300, .u8)) { try TensorData(int64s: [300], shape: [1], dtype: .u8) }
    #expect(throws: TensorDataError.valueOutOfRange(-129, .i8)) { try TensorData(int64s: [-129], shape: [1], dtype: .i8) }
    #expect(throws: TensorDataError.self) { try TensorData(floats: [1], shape: [1], dtype: .i64) }
  }

  @Test func f64KeepsDoublesExactly() throws {
    let values = [1.0 / 3.0, -1e300, .pi]
    #expect(try TensorData(doubles: values, shape: [3]).doubles() == values)
    #expect(try TensorData(doubles: values, shape: [3]).floats() == values.map { Float($0) })
  }
}
