using Microsoft.Win32.SafeHandles;

namespace Raid5Actors.Disks;

/// <summary>A member in a regular file: positioned I/O on one handle, fsync on flush.</summary>
public sealed class FileMemberStore : IMemberStore
{
    private readonly SafeFileHandle _handle;

    private FileMemberStore(string path, SafeFileHandle handle)
    {
        Name = path;
        _handle = handle;
    }

    public string Name { get; }

    public long LengthBytes => RandomAccess.GetLength(_handle);

    public static FileMemberStore Create(string path, long lengthBytes)
    {
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            RandomAccess.SetLength(handle, lengthBytes);
            return new FileMemberStore(path, handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public static FileMemberStore Open(string path)
    {
        if (!File.Exists(path))
            throw new Raid5MemberException($"member file {path} is missing");
        return new FileMemberStore(path, File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read));
    }

    public void Read(long offsetBytes, Span<byte> destination)
    {
        // A short read means the file is shorter than the geometry says: never hand back stale bytes.
        var done = 0;
        while (done < destination.Length)
        {
            var n = RandomAccess.Read(_handle, destination[done..], offsetBytes + done);
            if (n == 0)
                throw new IOException($"{Name}: read past end of file at offset {offsetBytes + done}");
            done += n;
        }
    }

    public void Write(long offsetBytes, ReadOnlySpan<byte> source) => RandomAccess.Write(_handle, source, offsetBytes);

    public void Flush() => RandomAccess.FlushToDisk(_handle);

    public void Dispose() => _handle.Dispose();
}

/// <summary>Members as files <c>member-NN.img</c> in one folder.</summary>
public sealed class FileMemberStoreProvider(string folder) : IMemberStoreProvider
{
    public string Folder { get; } = Path.GetFullPath(folder);

    public string PathOf(int role) => Path.Combine(Folder, $"member-{role:D2}.img");

    public string Describe(int role) => PathOf(role);

    public bool Exists(int role) => File.Exists(PathOf(role));

    public IMemberStore Create(int role, long lengthBytes)
    {
        if (Exists(role))
            throw new Raid5MemberException($"member file {PathOf(role)} already exists");
        Directory.CreateDirectory(Folder);
        return FileMemberStore.Create(PathOf(role), lengthBytes);
    }

    public IMemberStore Open(int role) => FileMemberStore.Open(PathOf(role));
}
