using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Akka.Configuration;
using Akka.Persistence.Sql;
using Microsoft.Data.Sqlite;

namespace Raid5Actors.Persistence;

/// <summary>
/// The embedded store of one array: an Akka.Persistence.Sql journal and snapshot store in a SQLite
/// file beside the array (DESIGN section 5). Every array gets its own pair of plugin ids, so several
/// arrays can live in one ActorSystem; nothing global (<c>akka.persistence.journal.plugin</c>) is set.
///
/// Durability: a journal commit is durable once acknowledged because the file is in WAL mode and
/// the connections run with <c>synchronous=FULL</c> (WAL is fsynced at every commit).
/// Microsoft.Data.Sqlite has no connection-string keyword for pragmas and Akka.Persistence.Sql built
/// from HOCON gives no hook on connection open, so FULL comes from the native library's default:
/// the e_sqlite3 bundled by SQLitePCLRaw 3.0.5 (SQLite 3.53.4) reports
/// <c>PRAGMA compile_options</c> DEFAULT_SYNCHRONOUS=2 and DEFAULT_WAL_SYNCHRONOUS=2, and a fresh
/// connection on a WAL file reads <c>PRAGMA synchronous</c> = 2 (FULL). A library built with
/// SQLITE_DEFAULT_WAL_SYNCHRONOUS=1 (NORMAL) would lose the last commits on power loss, so
/// <see cref="PrepareDatabase"/> checks the value before every start and refuses such a library;
/// SqlitePersistenceSpec proves it on a connection opened by linq2db itself.
/// </summary>
public static class SqlitePersistence
{
    /// <summary>linq2db provider for Microsoft.Data.Sqlite.</summary>
    public const string ProviderName = "SQLite.MS";

    private const string JournalClass = "Akka.Persistence.Sql.Journal.SqlWriteJournal, Akka.Persistence.Sql";
    private const string SnapshotClass = "Akka.Persistence.Sql.Snapshot.SqlSnapshotStore, Akka.Persistence.Sql";
    private const string PluginDispatcher = "akka.persistence.dispatchers.default-plugin-dispatcher";
    private const long kSynchronousFull = 2;

    // A plugin id is a HOCON path; keep it to plain segments so it needs no quoting.
    private static readonly Regex PluginIdPattern = new(@"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$", RegexOptions.CultureInvariant);

    /// <summary>
    /// Akka.Persistence.Sql's reference configuration (<c>akka.persistence.journal.sql</c>,
    /// <c>snapshot-store.sql</c>, <c>query.journal.sql</c>), which HOCON-only setups must add as a
    /// fallback. The sections from <see cref="PluginConfig"/> carry their own <c>class</c> and
    /// dispatcher and the plugins fall back to these defaults themselves, so they start even without
    /// it; add it anyway, once per ActorSystem (<c>config.WithFallback(DefaultFallback)</c>), so that
    /// anything reading the package's own paths (query journals, Akka.Hosting) finds them.
    /// </summary>
    public static Config DefaultFallback { get; } = SqlPersistence.DefaultConfiguration;

    /// <summary>
    /// HOCON for a journal at <paramref name="journalPluginId"/> and a snapshot store at
    /// <paramref name="snapshotPluginId"/>, both in the SQLite file <paramref name="databasePath"/>,
    /// creating their tables on first start.
    /// </summary>
    public static Config PluginConfig(string databasePath, string journalPluginId, string snapshotPluginId)
    {
        RequirePluginId(journalPluginId, nameof(journalPluginId));
        RequirePluginId(snapshotPluginId, nameof(snapshotPluginId));
        if (journalPluginId == snapshotPluginId)
            throw new ArgumentException("journal and snapshot plugin ids must differ", nameof(snapshotPluginId));

        var connection = Quote(ConnectionString(databasePath));
        var hocon = new StringBuilder()
            .Append(journalPluginId).AppendLine(" {")
            .AppendLine($"  class = {Quote(JournalClass)}")
            .AppendLine($"  plugin-id = {Quote(journalPluginId)}")
            .AppendLine($"  plugin-dispatcher = {Quote(PluginDispatcher)}")
            .AppendLine($"  connection-string = {connection}")
            .AppendLine($"  provider-name = {Quote(ProviderName)}")
            .AppendLine("  table-mapping = default")
            .AppendLine("  auto-initialize = on")
            // One writer: SQLite admits one write transaction at a time and Microsoft.Data.Sqlite
            // retries SQLITE_BUSY in a sleep loop, so parallel writers only add stalls. Batching
            // (batch-size) is what keeps the single writer fast.
            .AppendLine("  parallelism = 1")
            .AppendLine("}")
            .Append(snapshotPluginId).AppendLine(" {")
            .AppendLine($"  class = {Quote(SnapshotClass)}")
            .AppendLine($"  plugin-id = {Quote(snapshotPluginId)}")
            .AppendLine($"  plugin-dispatcher = {Quote(PluginDispatcher)}")
            .AppendLine($"  connection-string = {connection}")
            .AppendLine($"  provider-name = {Quote(ProviderName)}")
            .AppendLine("  table-mapping = default")
            .AppendLine("  auto-initialize = on")
            .AppendLine("}");
        return ConfigurationFactory.ParseString(hocon.ToString());
    }

    /// <summary>
    /// The connection string the plugins use for <paramref name="databasePath"/>. Microsoft.Data.Sqlite
    /// pools connections by this exact string, so <see cref="ReleaseDatabase"/> must build the same one.
    /// </summary>
    public static string ConnectionString(string databasePath) =>
        new SqliteConnectionStringBuilder
        {
            DataSource = FullPath(databasePath),
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
        }.ToString();

    /// <summary>
    /// Creates the SQLite file (and its folder) if missing and puts it in WAL mode, which SQLite
    /// records in the file; idempotent. Blocking: call before the plugins start. Throws when the
    /// native library would not run WAL connections with synchronous=FULL.
    /// </summary>
    public static void PrepareDatabase(string databasePath)
    {
        var path = FullPath(databasePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);

        // Unpooled: these connections must not stay open after the call.
        var unpooled = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString();

        using (var connection = new SqliteConnection(unpooled))
        {
            connection.Open();
            var journalMode = Scalar(connection, "PRAGMA journal_mode=WAL;");
            if (!string.Equals(journalMode, "wal", StringComparison.OrdinalIgnoreCase))
                throw new InvalidOperationException($"SQLite refused WAL mode for '{path}' (journal_mode={journalMode})");
        }

        // A new connection takes the WAL default (SQLITE_DEFAULT_WAL_SYNCHRONOUS) once its first
        // read finds the file in WAL mode: look at it the way the plugins' connections will.
        using (var connection = new SqliteConnection(unpooled))
        {
            connection.Open();
            Scalar(connection, "SELECT count(*) FROM sqlite_master;");
            var synchronous = long.Parse(Scalar(connection, "PRAGMA synchronous;"), CultureInfo.InvariantCulture);
            if (synchronous != kSynchronousFull)
                throw new InvalidOperationException(
                    $"The SQLite library runs WAL connections with synchronous={synchronous}, not 2 (FULL): " +
                    "journal commits would not be durable. Use an e_sqlite3 built with SQLITE_DEFAULT_WAL_SYNCHRONOUS=2.");
        }
    }

    /// <summary>
    /// Closes the pooled connections to <paramref name="databasePath"/> once the ActorSystem that
    /// used it has terminated. The pool otherwise keeps idle connections, and so the file and its
    /// -wal/-shm, open after termination; reopening the same path in the same process still works
    /// (the pooled connections are reused), but a file deleted and recreated at that path would be
    /// read and written through the stale handles. Safe to call when nothing is pooled.
    /// </summary>
    public static void ReleaseDatabase(string databasePath)
    {
        using var connection = new SqliteConnection(ConnectionString(databasePath));
        SqliteConnection.ClearPool(connection);
    }

    private static string FullPath(string databasePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        return Path.GetFullPath(databasePath);
    }

    private static void RequirePluginId(string pluginId, string parameterName)
    {
        if (pluginId is null || !PluginIdPattern.IsMatch(pluginId))
            throw new ArgumentException($"'{pluginId}' is not a plugin id (dot-separated [A-Za-z0-9_-] segments)", parameterName);
    }

    private static string Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(command.ExecuteScalar(), CultureInfo.InvariantCulture) ?? "";
    }

    // HOCON quoted string: JSON escaping rules.
    private static string Quote(string value)
    {
        var quoted = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': quoted.Append("\\\""); break;
                case '\\': quoted.Append("\\\\"); break;
                case '\n': quoted.Append("\\n"); break;
                case '\r': quoted.Append("\\r"); break;
                case '\t': quoted.Append("\\t"); break;
                default:
                    if (char.IsControl(c))
                        quoted.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        quoted.Append(c);
                    break;
            }
        }
        return quoted.Append('"').ToString();
    }
}
