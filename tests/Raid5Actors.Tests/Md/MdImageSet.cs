using Raid5Actors.Md;
using Raid5Actors.Tests.Arrays;

namespace Raid5Actors.Tests.Md;

/// <summary>Member images written by an <see cref="MdImageBuilder"/> into a folder of their own, with the content they hold.</summary>
internal sealed class MdImageSet : IDisposable
{
    private readonly TemporaryFolder _folder;

    public MdImageSet(MdImageBuilder builder, int seed)
    {
        _folder = new TemporaryFolder();
        Builder = builder;
        Content = MdImageBuilder.RandomContent(seed, builder.CapacityBytes);
        Paths = builder.WriteImages(_folder.Root, Content);
    }

    public MdImageBuilder Builder { get; }

    /// <summary>The logical bytes the array holds.</summary>
    public byte[] Content { get; }

    /// <summary>Image i is device i of the builder.</summary>
    public IReadOnlyList<string> Paths { get; }

    public string Folder => _folder.Root;

    public static async Task<byte[]> ReadAllAsync(MdArray array)
    {
        var bytes = new byte[array.CapacityBytes];
        await array.ReadAsync(0, bytes);
        return bytes;
    }

    /// <summary>Every image except those of the given devices.</summary>
    public IReadOnlyList<string> Without(params int[] devices) => Paths.Where((_, i) => !devices.Contains(i)).ToArray();

    /// <summary>Overwrites the data area of a device's image with random bytes (its superblock stays).</summary>
    public void GarbleData(int device, int seed)
    {
        var garbage = MdImageBuilder.RandomContent(seed, Builder.DeviceSectors * MdImageBuilder.kSectorBytes);
        using var file = new FileStream(Paths[device], FileMode.Open, FileAccess.Write);
        file.Position = Builder.DataOffsetBytes(device);
        file.Write(garbage);
    }

    /// <summary>Writes <paramref name="bytes"/> at <paramref name="offset"/> of a device's image.</summary>
    public void Patch(int device, long offset, ReadOnlySpan<byte> bytes)
    {
        using var file = new FileStream(Paths[device], FileMode.Open, FileAccess.Write);
        file.Position = offset;
        file.Write(bytes);
    }

    public void Dispose() => _folder.Dispose();
}
