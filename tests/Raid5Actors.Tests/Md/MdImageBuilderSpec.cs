using System.Buffers.Binary;
using Raid5Actors.Geometry;

namespace Raid5Actors.Tests.Md;

/// <summary>
/// The test-side image builder is the yardstick for the reader, so it is checked on its own: its
/// placement against tables written out by hand from md's layouts, its superblock against md_p.h offsets.
/// </summary>
public class MdImageBuilderSpec
{
    private const int kChunkBytes = 4096;

    // Rows of 4 members; Dk is logical chunk k, P the row's parity.
    [Theory]
    [InlineData(Raid5Layout.LeftSymmetric, "D0 D1 D2 P", "D4 D5 P D3", "D8 P D6 D7", "P D9 D10 D11")]
    [InlineData(Raid5Layout.LeftAsymmetric, "D0 D1 D2 P", "D3 D4 P D5", "D6 P D7 D8", "P D9 D10 D11")]
    [InlineData(Raid5Layout.RightSymmetric, "P D0 D1 D2", "D5 P D3 D4", "D7 D8 P D6", "D9 D10 D11 P")]
    [InlineData(Raid5Layout.RightAsymmetric, "P D0 D1 D2", "D3 P D4 D5", "D6 D7 P D8", "D9 D10 D11 P")]
    [InlineData(Raid5Layout.ParityFirst, "P D0 D1 D2", "P D3 D4 D5", "P D6 D7 D8", "P D9 D10 D11")]
    [InlineData(Raid5Layout.ParityLast, "D0 D1 D2 P", "D3 D4 D5 P", "D6 D7 D8 P", "D9 D10 D11 P")]
    public void Places_every_chunk_and_parity_where_md_puts_them(Raid5Layout layout, params string[] rows)
    {
        var builder = new MdImageBuilder(4, layout, kChunkBytes, 4 * (kChunkBytes / 512));
        var content = new byte[builder.CapacityBytes];
        for (var chunk = 0; chunk < 12; chunk++)
            content.AsSpan(chunk * kChunkBytes, kChunkBytes).Fill((byte)(chunk + 1));

        var members = builder.PlaceMembers(content);

        for (var row = 0; row < rows.Length; row++)
        {
            var cells = rows[row].Split(' ');
            var dataValues = cells.Where(c => c != "P").Select(c => (byte)(int.Parse(c[1..]) + 1)).ToArray();
            for (var member = 0; member < 4; member++)
            {
                var expected = cells[member] == "P"
                    ? dataValues.Aggregate((byte)0, (p, v) => (byte)(p ^ v))
                    : (byte)(int.Parse(cells[member][1..]) + 1);
                var chunk = members[member].AsSpan(row * kChunkBytes, kChunkBytes);
                Assert.True(chunk.IndexOfAnyExcept(expected) < 0, $"row {row} member {member}: expected every byte {expected:x2} ({cells[member]})");
            }
        }
    }

    [Fact]
    public void Writes_the_superblock_fields_at_md_p_h_offsets_with_a_checksum_md_accepts()
    {
        var builder = new MdImageBuilder(5, Raid5Layout.RightSymmetric, 128 * 1024, 10_000) { Events = 77, Clean = false, MaxDev = 7 };

        var sb = builder.BuildSuperblock(3);

        Assert.Equal(0xa92b4efcu, BinaryPrimitives.ReadUInt32LittleEndian(sb));
        Assert.Equal(5, BinaryPrimitives.ReadInt32LittleEndian(sb.AsSpan(72)));          // level
        Assert.Equal(3, BinaryPrimitives.ReadInt32LittleEndian(sb.AsSpan(76)));          // layout
        Assert.Equal(10_000ul, BinaryPrimitives.ReadUInt64LittleEndian(sb.AsSpan(80)));  // size
        Assert.Equal(256u, BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(88)));      // chunksize, sectors
        Assert.Equal(2048ul, BinaryPrimitives.ReadUInt64LittleEndian(sb.AsSpan(128)));   // data_offset
        Assert.Equal(8ul, BinaryPrimitives.ReadUInt64LittleEndian(sb.AsSpan(144)));      // super_offset
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(160)));       // dev_number
        Assert.Equal(77ul, BinaryPrimitives.ReadUInt64LittleEndian(sb.AsSpan(200)));     // events
        Assert.Equal(0ul, BinaryPrimitives.ReadUInt64LittleEndian(sb.AsSpan(208)));      // resync_offset: dirty
        Assert.Equal(7u, BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(220)));       // max_dev
        Assert.Equal(3, BinaryPrimitives.ReadUInt16LittleEndian(sb.AsSpan(256 + 6)));    // dev_roles[3]
        Assert.Equal(0xffff, BinaryPrimitives.ReadUInt16LittleEndian(sb.AsSpan(256 + 12))); // dev_roles[6]: spare

        // The checksum of an odd max_dev takes the last role as a lone u16.
        ulong sum = 0;
        for (var at = 0; at < 256 + 12; at += 4)
            sum += at == 216 ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(at));
        sum += BinaryPrimitives.ReadUInt16LittleEndian(sb.AsSpan(256 + 12));
        Assert.Equal((uint)((sum & 0xffffffff) + (sum >> 32)), BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(216)));
    }
}
