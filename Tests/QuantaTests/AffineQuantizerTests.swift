import Testing
import Quanta

@Suite struct AffineQuantizerTests {
    let x = TestData.gaussian(rows: 16, columns: 64, seed: 1)

    @Test func symmetricPerTensorScaleIsAmaxOverQmax() throws {
        let p = try AffineQuantizer.chooseParameters(for: x, format: .int8, scheme: .symmetric, granularity: .perTensor)
        let amax = x.storage.map(\.magnitude).max()!
        #expect(p.scales == [amax / 127] && p.zeroPoints == [0])
        let q = try AffineQuantizer.quantize(x, with: p, as: Int8.self)
        #expect(q.storage.map { abs(Int($0)) }.max() == 127)
        #expect(!q.storage.contains(-128))   // narrow range
        let back = try AffineQuantizer.dequantize(q, with: p)
        for (a, b) in zip(x.storage, back.storage) { #expect(abs(a - b) <= p.scales[0] / 2 * 1.0001) }
    }

    @Test func asymmetricMapsTheRangeOntoAllCodesAndZeroExactly() throws {
        let shifted = try Matrix(rows: 1, columns: 5, storage: [-0.3, 0, 0.7, 2.1, 5.0] as [Float])
        let p = try AffineQuantizer.chooseParameters(for: shifted, format: .uint8, scheme: .asymmetric)
        let q = try AffineQuantizer.quantize(shifted, with: p, as: UInt8.self)
        #expect(q.storage.first == 0 && q.storage.last == 255)
        let back = try AffineQuantizer.dequantize(q, with: p)
        #expect(back[0, 1] == 0)                        // zero is exact
        #expect(abs(p.scales[0] - 5.3 / 255) < 1e-7)    // S = (beta - alpha) / (2^b - 1)
        // Q = rne(x/S) - Z: the code of 0 is -Z.
        #expect(Int32(q[0, 1]) == -p.zeroPoints[0])
    }

    @Test func everyGranularityGivesEachGroupItsOwnRange() throws {
        let groups = try EmbeddingGroups.contiguous(columns: 64, groups: 4)
        let cases: [(Granularity, Int)] = [(.perTensor, 1), (.perChannel, 16), (.perToken, 16),
                                           (.perGroup(size: 16), 64), (.perGroup(size: 48), 32),
                                           (.perEmbeddingGroup(groups), 4)]
        for (granularity, count) in cases {
            let p = try AffineQuantizer.chooseParameters(for: x, granularity: granularity)
            #expect(p.scales.count == count, "\(granularity)")
            let q = try AffineQuantizer.quantize(x, with: p, as: Int8.self)
            // Each group's largest magnitude lands on +-127.
            var groupMax = [Int](repeating: 0, count: count)
            for r in 0..<x.rows {
                for c in 0..<x.columns {
                    let g = granularity.parameterIndex(row: r, column: c, columns: x.columns)
                    groupMax[g] = max(groupMax[g], abs(Int(q[r, c])))
                }
            }
            #expect(groupMax.allSatisfy { $0 == 127 }, "\(granularity)")
        }
    }

    @Test func finerGranularityHasSmallerError() throws {
        // Rows with very different magnitudes: per-token beats per-tensor.
        var y = x
        for c in 0..<y.columns { y[3, c] *= 100 }
        func error(_ g: Granularity) throws -> Float {
            let p = try AffineQuantizer.chooseParameters(for: y, granularity: g)
            let back = try AffineQuantizer.fakeQuantize(y, with: p)
            return zip(y.storage, back.storage).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
        }
        #expect(try error(.perToken) < error(.perTensor) / 10)
        #expect(try error(.perGroup(size: 16)) <= error(.perToken))
    }

    @Test func rangeBasedPermutationGroupsTheOutlierDimensions() throws {
        var ranges = [Float](repeating: 1, count: 12)
        ranges[2] = 50; ranges[7] = 60; ranges[11] = 55
        let groups = try EmbeddingGroups.rangeBased(columnRanges: ranges, groups: 4)
        #expect(groups.groupOfColumn[2] == 3 && groups.groupOfColumn[7] == 3 && groups.groupOfColumn[11] == 3)
        #expect(groups.groupOfColumn.filter { $0 == 3 }.count == 3)
        // With the outliers isolated, the other columns keep a fine scale.
        var a = TestData.gaussian(rows: 8, columns: 12, seed: 3, scale: 0.5)
        for r in 0..<8 { a[r, 2] *= 100; a[r, 7] *= 120; a[r, 11] *= 110 }
        let peg = try AffineQuantizer.chooseParameters(for: a, granularity: .perEmbeddingGroup(groups))
        let tensor = try AffineQuantizer.chooseParameters(for: a, granularity: .perTensor)
        #expect(peg.scales[0] < tensor.scales[0] / 20)
    }

    @Test func nonFiniteInputIsReportedWithTensorAndIndex() throws {
        var y = x
        y[2, 5] = .nan
        #expect {
            try AffineQuantizer.chooseParameters(for: y, tensor: "layer0.q.input")
        } throws: { error in
            "\(error)" == "layer0.q.input: element 133 is nan; finite values are required"
        }
    }

    @Test func shapeAndTypeMistakesAreErrors() throws {
        let p = try AffineQuantizer.chooseParameters(for: x, granularity: .perToken)
        let other = TestData.gaussian(rows: 3, columns: 64, seed: 2)
        #expect(throws: QuantaError.self) { try AffineQuantizer.quantize(other, with: p, as: Int8.self) }
        let wide = try AffineQuantizer.chooseParameters(for: x, format: IntegerFormat(bits: 12, signed: true)!)
        #expect(throws: QuantaError.self) { try AffineQuantizer.quantize(x, with: wide, as: Int8.self) }
        #expect(throws: QuantaError.self) {
            try AffineQuantizer.chooseParameters(for: x, format: .uint8, scheme: .symmetric)
        }
        #expect(throws: QuantaError.self) { try AffineQuantizer.chooseParameters(for: x, granularity: .perGroup(size: 0)) }
        #expect(throws: QuantaError.self) { try Matrix(rows: 2, columns: 3, storage: [Float](repeating: 0, count: 5)) }
    }

    @Test func allZeroTensorQuantizesToZero() throws {
        let zeros = Matrix<Float>(rows: 2, columns: 4, repeating: 0)
        for scheme in QuantizationScheme.allCases {
            let p = try AffineQuantizer.chooseParameters(for: zeros, scheme: scheme)
            #expect(try AffineQuantizer.fakeQuantize(zeros, with: p).storage.allSatisfy { $0 == 0 })
        }
    }

    @Test func fourBitGroupQuantizationErrorIsBoundedByHalfAStep() throws {
        let format = IntegerFormat.int4
        let p = try AffineQuantizer.chooseParameters(for: x, format: format, scheme: .asymmetric, granularity: .perGroup(size: 32))
        let back = try AffineQuantizer.fakeQuantize(x, with: p)
        for r in 0..<x.rows {
            for c in 0..<x.columns {
                let s = p.scales[Granularity.perGroup(size: 32).parameterIndex(row: r, column: c, columns: x.columns)]
                #expect(abs(back[r, c] - x[r, c]) <= s * 0.5001, "(\(r), \(c))")
            }
        }
    }
}
