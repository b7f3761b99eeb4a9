using Raid5Actors.Geometry;

namespace Raid5Actors.Tests.Geometry;

/// <summary>
/// The layout map must be byte-compatible with md. The expected values come from md's C code
/// transliterated step by step (<see cref="MdComputeSector"/>), not from the product's formulas.
/// </summary>
public class ArrayGeometryLayoutSpec
{
    private const int kSectorBytes = 512;

    public static TheoryData<Raid5Layout, int, int> LayoutsMembersChunks()
    {
        var data = new TheoryData<Raid5Layout, int, int>();
        foreach (var layout in Enum.GetValues<Raid5Layout>())
        {
            foreach (var members in new[] { 3, 4, 5, 8 })
            {
                foreach (var chunkBytes in new[] { 4096, 64 * 1024 })
                {
                    data.Add(layout, members, chunkBytes);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(LayoutsMembersChunks))]
    public void Every_chunk_of_the_first_2n_rows_lands_where_md_puts_it(Raid5Layout layout, int members, int chunkBytes)
    {
        var rows = 2 * members;
        var geometry = ArrayGeometry.Create(members, chunkBytes, layout, (long)rows * chunkBytes);
        var sectorsPerChunk = chunkBytes / kSectorBytes;

        for (long chunk = 0; chunk < (long)rows * (members - 1); chunk++)
        {
            foreach (var offsetInChunk in new[] { 0, kSectorBytes + 7, chunkBytes - 1 })
            {
                var logical = (chunk * chunkBytes) + offsetInChunk;
                var md = MdComputeSector(logical / kSectorBytes, members, sectorsPerChunk, (int)layout);
                var location = geometry.Locate(logical);

                Assert.Equal(md.PdIdx, geometry.ParityMember(location.Row));
                Assert.Equal(md.DdIdx, location.Member);
                Assert.Equal((md.NewSector * kSectorBytes) + (logical % kSectorBytes), location.MemberOffset);
                Assert.Equal(chunk / (members - 1), location.Row);
                Assert.Equal((int)(chunk % (members - 1)), location.DataIndex);
                Assert.Equal(offsetInChunk, location.OffsetInChunk);
                Assert.Equal(location.DataIndex, geometry.DataIndexOf(location.Row, location.Member));
                Assert.Equal(logical, geometry.LogicalOffset(location.Row, location.DataIndex, location.OffsetInChunk));
            }
        }
    }

    [Theory]
    [MemberData(nameof(LayoutsMembersChunks))]
    public void Every_row_has_one_parity_member_and_each_data_chunk_on_its_own_member(Raid5Layout layout, int members, int chunkBytes)
    {
        var rows = 2 * members;
        var geometry = ArrayGeometry.Create(members, chunkBytes, layout, (long)rows * chunkBytes);

        for (long row = 0; row < rows; row++)
        {
            var owners = Enumerable.Range(0, members).Select(m => geometry.DataIndexOf(row, m)).ToArray();
            Assert.Single(owners, dd => dd == -1);
            Assert.Equal(Enumerable.Range(0, members - 1), owners.Where(dd => dd >= 0).Order());

            var dataMembers = Enumerable.Range(0, members - 1).Select(dd => geometry.DataMember(row, dd)).ToArray();
            Assert.Equal(members - 1, dataMembers.Distinct().Count());
            Assert.DoesNotContain(geometry.ParityMember(row), dataMembers);
        }
    }

    // Tables written out by hand for 4 members; left-symmetric is DESIGN.md section 4's worked example.
    [Theory]
    [InlineData(Raid5Layout.LeftSymmetric, "D0 D1 D2 P", "D4 D5 P D3", "D8 P D6 D7", "P D9 D10 D11")]
    [InlineData(Raid5Layout.LeftAsymmetric, "D0 D1 D2 P", "D3 D4 P D5", "D6 P D7 D8", "P D9 D10 D11")]
    [InlineData(Raid5Layout.RightSymmetric, "P D0 D1 D2", "D5 P D3 D4", "D7 D8 P D6", "D9 D10 D11 P")]
    [InlineData(Raid5Layout.RightAsymmetric, "P D0 D1 D2", "D3 P D4 D5", "D6 D7 P D8", "D9 D10 D11 P")]
    [InlineData(Raid5Layout.ParityFirst, "P D0 D1 D2", "P D3 D4 D5", "P D6 D7 D8", "P D9 D10 D11")]
    [InlineData(Raid5Layout.ParityLast, "D0 D1 D2 P", "D3 D4 D5 P", "D6 D7 D8 P", "D9 D10 D11 P")]
    public void Four_member_layout_matches_the_written_table(Raid5Layout layout, string row0, string row1, string row2, string row3)
    {
        const int kChunkBytes = 64 * 1024;
        var geometry = ArrayGeometry.Create(4, kChunkBytes, layout, 8L * kChunkBytes);

        Assert.Equal(new[] { row0, row1, row2, row3 }, Enumerable.Range(0, 4).Select(r => RenderRow(geometry, r)));
    }

    [Fact]
    public void Member_offset_is_row_times_chunk_plus_offset_in_chunk()
    {
        const int kChunkBytes = 64 * 1024;
        var geometry = ArrayGeometry.Create(4, kChunkBytes, Raid5Layout.LeftSymmetric, 1L << 30);

        // Chunk 10 is D10 of the worked example: row 3, member 2.
        var location = geometry.Locate((10L * kChunkBytes) + 4097);

        Assert.Equal(new ChunkLocation(Row: 3, DataIndex: 1, Member: 2, OffsetInChunk: 4097, MemberOffset: (3L * kChunkBytes) + 4097), location);
    }

    [Fact]
    public void Last_byte_of_the_array_maps_to_the_last_row()
    {
        var geometry = ArrayGeometry.Create(5, 64 * 1024, Raid5Layout.LeftSymmetric, 100L * 64 * 1024);

        var location = geometry.Locate(geometry.CapacityBytes - 1);

        Assert.Equal(99, location.Row);
        Assert.Equal(3, location.DataIndex);
        Assert.Equal(geometry.MemberDataBytes - 1, location.MemberOffset);
    }

    private static string RenderRow(ArrayGeometry geometry, long row)
    {
        var cells = Enumerable.Range(0, geometry.MemberCount).Select(member =>
        {
            var dd = geometry.DataIndexOf(row, member);
            return dd < 0 ? "P" : $"D{(row * geometry.DataMembers) + dd}";
        });
        return string.Join(' ', cells);
    }

    private readonly record struct MdResult(long NewSector, int DdIdx, int PdIdx);

    // drivers/md/raid5.c raid5_compute_sector, conf->level == 5, max_degraded == 1, no reshape.
    // sector_div(x, d) divides x in place and returns the remainder; kept as two steps to mirror it.
    private static MdResult MdComputeSector(long rSector, int raidDisks, int sectorsPerChunk, int algorithm)
    {
        var dataDisks = raidDisks - 1;

        var chunkOffset = rSector % sectorsPerChunk;
        rSector /= sectorsPerChunk;
        var chunkNumber = rSector;

        var stripe = chunkNumber;
        var ddIdx = (int)(stripe % dataDisks);
        stripe /= dataDisks;
        var stripe2 = stripe;

        int pdIdx;
        switch (algorithm)
        {
            case 0: // ALGORITHM_LEFT_ASYMMETRIC
                pdIdx = dataDisks - (int)(stripe2 % raidDisks);
                if (ddIdx >= pdIdx)
                {
                    ddIdx++;
                }

                break;
            case 1: // ALGORITHM_RIGHT_ASYMMETRIC
                pdIdx = (int)(stripe2 % raidDisks);
                if (ddIdx >= pdIdx)
                {
                    ddIdx++;
                }

                break;
            case 2: // ALGORITHM_LEFT_SYMMETRIC
                pdIdx = dataDisks - (int)(stripe2 % raidDisks);
                ddIdx = (pdIdx + 1 + ddIdx) % raidDisks;
                break;
            case 3: // ALGORITHM_RIGHT_SYMMETRIC
                pdIdx = (int)(stripe2 % raidDisks);
                ddIdx = (pdIdx + 1 + ddIdx) % raidDisks;
                break;
            case 4: // ALGORITHM_PARITY_0
                pdIdx = 0;
                ddIdx++;
                break;
            case 5: // ALGORITHM_PARITY_N
                pdIdx = dataDisks;
                break;
            default:
                throw new InvalidOperationException("BUG()");
        }

        var newSector = (stripe * sectorsPerChunk) + chunkOffset;
        return new MdResult(newSector, ddIdx, pdIdx);
    }
}
