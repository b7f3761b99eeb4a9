using System.Text.Json;

namespace Raid5Actors.Arrays;

/// <summary>Who holds an array folder open for writing, as written to <see cref="ArrayFolderLock.kOwnerFileName"/>.</summary>
public sealed record ArrayOwner(int ProcessId, string Host, string Command, DateTime StartedUtc)
{
    public override string ToString() =>
        $"process {ProcessId} on {Host} ({Command}), since {StartedUtc:yyyy-MM-dd HH:mm:ss}Z";
}

/// <summary>
/// One writer per array folder: an exclusive lock on <c>raid5.lock</c> (an OS file lock, released by
/// the kernel when the holder dies, so a crash never leaves the folder locked), and a description of
/// the holder in <c>raid5.owner</c> so a second process is refused with a message naming the first.
/// The owner file is separate because the lock file cannot be read while it is locked.
/// </summary>
public sealed class ArrayFolderLock : IDisposable
{
    public const string kLockFileName = "raid5.lock";
    public const string kOwnerFileName = "raid5.owner";

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    private readonly FileStream _lock;
    private readonly string _ownerPath;
    private readonly string? _createdFolder;
    private int _released;

    private ArrayFolderLock(FileStream lockFile, string ownerPath, ArrayOwner owner, string? createdFolder)
    {
        _createdFolder = createdFolder;
        _lock = lockFile;
        _ownerPath = ownerPath;
        Owner = owner;
    }

    public ArrayOwner Owner { get; }

    /// <summary>
    /// Takes the folder's lock or throws <see cref="Raid5OpenException"/> naming the process that holds it.
    /// With <paramref name="create"/> the folder is made when missing; without, a missing folder holds
    /// no array, and the error names <paramref name="databasePath"/> as the assembly's own check would.
    /// </summary>
    public static ArrayFolderLock Acquire(string folder, bool create, string databasePath)
    {
        var createdFolder = create && !Directory.Exists(folder);
        if (create)
            Directory.CreateDirectory(folder);
        else if (!Directory.Exists(folder))
            throw new Raid5OpenException($"{folder} holds no array: {databasePath} is missing");
        var lockPath = Path.Combine(folder, kLockFileName);
        FileStream lockFile;
        try
        {
            // FileShare.None is an exclusive flock on Unix and a sharing lock on Windows: both end with the process.
            lockFile = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            var holder = ReadOwner(folder);
            var who = holder is null ? "another process" : holder.ToString();
            throw new Raid5OpenException(
                $"The array in {Path.GetFullPath(folder)} is in use by {who}. Two processes never open one array for writing: "
                + "wait for it or stop it (a raid5 serve is reached through its control socket by the other raid5 commands).", e);
        }
        var owner = new ArrayOwner(Environment.ProcessId, Environment.MachineName, Describe(Environment.GetCommandLineArgs()), DateTime.UtcNow);
        var held = new ArrayFolderLock(lockFile, Path.Combine(folder, kOwnerFileName), owner, createdFolder ? folder : null);
        held.Publish();
        return held;
    }

    /// <summary>The last holder's description (it may have exited since), or null.</summary>
    public static ArrayOwner? ReadOwner(string folder)
    {
        try
        {
            return JsonSerializer.Deserialize<ArrayOwner>(File.ReadAllText(Path.Combine(folder, kOwnerFileName)), s_json);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
            return;
        // The owner file goes first: whoever takes the lock next writes its own.
        try
        {
            File.Delete(_ownerPath);
        }
        catch (IOException)
        {
        }
        _lock.Dispose();
    }

    /// <summary>
    /// Releases the lock after a failed create or open. With <paramref name="leaveNothing"/> (the
    /// folder holds no array), a folder this lock made is removed again with its files, so a refused
    /// create leaves nothing behind. The lock file of a folder that existed stays: deleting a lock
    /// file another process may have opened already would let two processes hold "the" lock.
    /// </summary>
    public void Release(bool leaveNothing)
    {
        var removeFolder = leaveNothing && Volatile.Read(ref _released) == 0 ? _createdFolder : null;
        Dispose();
        if (removeFolder is null)
            return;
        try
        {
            File.Delete(Path.Combine(removeFolder, kLockFileName));
            if (!Directory.EnumerateFileSystemEntries(removeFolder).Any())
                Directory.Delete(removeFolder);
        }
        catch (IOException)
        {
            // Best effort: the caller is already reporting why the create failed.
        }
    }

    private void Publish()
    {
        var temporary = _ownerPath + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(Owner, s_json));
        File.Move(temporary, _ownerPath, overwrite: true);
    }

    private static string Describe(string[] args)
    {
        // The first argument is the program (a dll when run through `dotnet`); keep its file name only.
        var program = args.Length == 0 ? "unknown" : Path.GetFileNameWithoutExtension(args[0]);
        return string.Join(' ', new[] { program }.Concat(args.Skip(1)));
    }
}
