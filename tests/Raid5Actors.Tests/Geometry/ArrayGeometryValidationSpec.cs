using Raid5Actors.Geometry;

namespace Raid5Actors.Tests.Geometry;

public class ArrayGeometryValidationSpec
{
    private const int kChunkBytes = 64 * 1024;
    private const long kMemberBytes = 1L << 30;

    [Theory]
    [InlineData(2)]
    [InlineData(0)]
    [InlineData(17)]
    public void Member_count_outside_3_to_16_is_refused(int members)
    {
        var error = Assert.Throws<Raid5GeometryException>(
            () => ArrayGeometry.Create(members, kChunkBytes, Raid5Layout.LeftSymmetric, kMemberBytes));

        Assert.Contains("members", error.Message);
        Assert.Contains(members.ToString(), error.Message);
    }

    [Theory]
    [InlineData(5000)]
    [InlineData(0)]
    [InlineData(-4096)]
    [InlineData(3 * 4096)]
    public void Chunk_that_is_not_a_power_of_two_is_refused(int chunkBytes)
    {
        var error = Assert.Throws<Raid5GeometryException>(
            () => ArrayGeometry.Create(4, chunkBytes, Raid5Layout.LeftSymmetric, kMemberBytes));

        Assert.Contains("power of two", error.Message);
        Assert.Contains(chunkBytes.ToString(), error.Message);
    }

    [Theory]
    [InlineData(2048)]
    [InlineData(512)]
    [InlineData(8 * 1024 * 1024)]
    public void Chunk_outside_4KiB_to_4MiB_is_refused(int chunkBytes)
    {
        var error = Assert.Throws<Raid5GeometryException>(
            () => ArrayGeometry.Create(4, chunkBytes, Raid5Layout.LeftSymmetric, kMemberBytes));

        Assert.Contains("between 4096 bytes (4 KiB) and 4194304 bytes (4 MiB)", error.Message);
        Assert.Contains(chunkBytes.ToString(), error.Message);
    }

    [Theory]
    [InlineData(6)]
    [InlineData(-1)]
    public void Undefined_layout_value_is_refused(int layout)
    {
        var error = Assert.Throws<Raid5GeometryException>(
            () => ArrayGeometry.Create(4, kChunkBytes, (Raid5Layout)layout, kMemberBytes));

        Assert.Contains($"Layout value {layout}", error.Message);
        Assert.Contains("left-symmetric", error.Message);
    }

    [Theory]
    [InlineData(kChunkBytes - 1)]
    [InlineData(0)]
    [InlineData(-1)]
    public void Member_smaller_than_one_chunk_is_refused(long memberDataBytes)
    {
        var error = Assert.Throws<Raid5GeometryException>(
            () => ArrayGeometry.Create(4, kChunkBytes, Raid5Layout.LeftSymmetric, memberDataBytes));

        Assert.Contains("smaller than one chunk", error.Message);
    }

    [Fact]
    public void Member_so_large_that_capacity_overflows_is_refused()
    {
        var error = Assert.Throws<Raid5GeometryException>(
            () => ArrayGeometry.Create(16, kChunkBytes, Raid5Layout.LeftSymmetric, long.MaxValue / 2));

        Assert.Contains("overflow", error.Message);
    }

    [Fact]
    public void Geometry_exception_is_an_argument_exception()
    {
        Assert.IsAssignableFrom<ArgumentException>(new Raid5GeometryException("x"));
    }

    [Fact]
    public void Member_data_is_rounded_down_to_whole_chunks_like_md()
    {
        var geometry = ArrayGeometry.Create(5, kChunkBytes, Raid5Layout.LeftSymmetric, (10L * kChunkBytes) + 100);

        Assert.Equal(10L * kChunkBytes, geometry.MemberDataBytes);
        Assert.Equal(10, geometry.RowCount);
    }

    [Fact]
    public void Derived_sizes_follow_from_the_shape()
    {
        var geometry = ArrayGeometry.Create(5, kChunkBytes, Raid5Layout.RightAsymmetric, kMemberBytes);

        Assert.Equal(5, geometry.MemberCount);
        Assert.Equal(kChunkBytes, geometry.ChunkBytes);
        Assert.Equal(Raid5Layout.RightAsymmetric, geometry.Layout);
        Assert.Equal(4, geometry.DataMembers);
        Assert.Equal(kMemberBytes / kChunkBytes, geometry.RowCount);
        Assert.Equal(4L * kChunkBytes, geometry.RowDataBytes);
        Assert.Equal(4L * kMemberBytes, geometry.CapacityBytes);
        Assert.Equal(16, geometry.PagesPerChunk);
    }

    [Theory]
    [InlineData(3, 4096)]
    [InlineData(16, 4 * 1024 * 1024)]
    public void Limits_themselves_are_accepted(int members, int chunkBytes)
    {
        var geometry = ArrayGeometry.Create(members, chunkBytes, Raid5Layout.ParityLast, chunkBytes);

        Assert.Equal(1, geometry.RowCount);
        Assert.Equal((long)(members - 1) * chunkBytes, geometry.CapacityBytes);
    }

    [Fact]
    public void Same_shape_gives_equal_geometries()
    {
        var a = ArrayGeometry.Create(4, kChunkBytes, Raid5Layout.LeftSymmetric, kMemberBytes + 1);
        var b = ArrayGeometry.Create(4, kChunkBytes, Raid5Layout.LeftSymmetric, kMemberBytes);

        Assert.Equal(a, b);
    }
}
